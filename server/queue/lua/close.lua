-- close: the clerk leaves the window (window.closed); tickets transferred to it go back to
-- their services' lines (return_reserved). Refused while a ticket is in hand,
-- so nobody is left called at an empty window. An admin may close any window (A.force).
local w, err = check_window(A.window)
if err then return err end
if blank(w.clerk) then return action_answer(w, nil) end
if not blank(w.tstate) then
  return fail('window_busy', 'finish, transfer or suspend the current ticket before closing')
end
local clerk = {id = w.clerk, name = w.clerk_name}
set_window(w, {clerk = '', clerk_name = '', paused = '', token = '', tstate = ''})
emit_window({type = 'window.closed', clerk = clerk}, w)
return_reserved(w, 'window_closed')
return action_answer(w, nil)
