-- call (特呼): call ticket A.number out of order at A.window; it must be waiting and be
-- one this window serves (or transferred to it). Finishes the current ticket first.
local w, err = check_window(A.window)
if err then return err end
local t = ticket_by_number(A.number)
if t == nil then return fail('unknown_ticket', 'there is no ticket ' .. A.number .. ' today') end
if t.status ~= 'waiting' then
  return fail('not_waiting', 'ticket ' .. t.number .. ' is ' .. t.status .. ', not waiting')
end
if blank(t.to_window) and tier_of(A.tiers, split(t.services)) == nil or
   not blank(t.to_window) and t.to_window ~= A.window then
  return fail('window_cannot_serve', 'window ' .. A.window .. ' does not serve ticket ' .. t.number)
end
if w.paused == '1' then return fail('window_paused', 'this window is paused; unpause it to call') end
open_window(w)
finish_current(w)
dequeue(t)
hand_to_window(t, w, 'called')
emit_window({type = 'ticket.called', ticket = public(t), clerk = {id = w.clerk, name = w.clerk_name}}, w)
return action_answer(w, t)
