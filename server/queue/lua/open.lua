-- open: a clerk takes the window (window.opened); a no-op when they already hold it.
local w, err = check_window(A.window)
if err then return err end
open_window(w)
return action_answer(w, load_ticket(w.token))
