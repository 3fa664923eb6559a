-- call (特呼): call ticket A.number out of order at A.window; it must be waiting and be
-- one this window serves: its services are in the window's tiers (even when it was
-- transferred to another window), or it was transferred to this one. Finishes the current
-- ticket first; refused (just_called) within A.min_call_ms of the current ticket's call.
local w, err = check_window(A.window)
if err then return err end
local t = ticket_by_number(A.number)
if t == nil then return fail('unknown_ticket', 'there is no ticket ' .. A.number .. ' today') end
if t.status ~= 'waiting' then
  return fail('not_waiting', 'ticket ' .. t.number .. ' is ' .. t.status .. ', not waiting')
end
if tier_of(A.tiers, split(t.services)) == nil and t.to_window ~= A.window then
  return fail('window_cannot_serve', 'window ' .. A.window .. ' does not serve ticket ' .. t.number)
end
if w.paused == '1' then return fail('window_paused', 'this window is paused; unpause it to call') end
err = check_call_interval(w)
if err then return err end
open_window(w)
finish_current(w)
leave_line(t)
local left = {line = ''}
-- called elsewhere than the window it was transferred to: it belongs to this window now
if not blank(t.to_window) and t.to_window ~= A.window then left.to_window = '' end
local facts = hand_to_window(t, w, 'called', left)
emit_window({type = 'ticket.called', ticket = public(t), clerk = {id = w.clerk, name = w.clerk_name},
  stats = facts}, w)
return action_answer(w, t)
