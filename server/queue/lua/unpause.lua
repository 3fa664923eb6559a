-- unpause: the window calls again.
local w, err = check_window(A.window)
if err then return err end
if w.paused ~= '1' then return fail('not_paused', 'this window is not paused') end
set_window(w, {paused = ''})
emit_window({type = 'window.unpaused', clerk = {id = w.clerk, name = w.clerk_name}}, w)
return action_answer(w, load_ticket(w.token))
