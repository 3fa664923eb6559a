-- pause (暂停服务): the window stops calling; a ticket in hand can still be finished.
-- Tickets transferred to it go back to their services' lines (return_reserved).
local w, err = check_window(A.window)
if err then return err end
if w.paused == '1' then return fail('already_paused', 'this window is already paused') end
open_window(w)
set_window(w, {paused = '1'})
emit_window({type = 'window.paused', clerk = {id = w.clerk, name = w.clerk_name}}, w)
return_reserved(w, 'window_paused')
return action_answer(w, load_ticket(w.token))
