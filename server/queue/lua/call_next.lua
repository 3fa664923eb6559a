-- call_next: finish the window's current ticket (done), then call the next eligible one
-- (ticket null when none waits). A.window, A.tiers (the window's service tiers), A.clerk.
-- Refused (just_called) within A.min_call_ms of the call of the ticket in hand.
local w, err = check_window(A.window)
if err then return err end
if w.paused == '1' then return fail('window_paused', 'this window is paused; unpause it to call') end
err = check_call_interval(w)
if err then return err end
open_window(w)
finish_current(w)
local token = best_for_window(A.window, A.tiers)
if token == nil then return action_answer(w, nil) end
local t = load_ticket(token)
leave_line(t)
local facts = hand_to_window(t, w, 'called', {line = ''})
emit_window({type = 'ticket.called', ticket = public(t), clerk = {id = w.clerk, name = w.clerk_name},
  stats = facts}, w)
return action_answer(w, t)
