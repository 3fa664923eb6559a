-- resume (恢复): a suspended ticket A.number is served at this window again without a new
-- ticket; the window's current ticket is finished first.
local w, err = check_window(A.window)
if err then return err end
local t = ticket_by_number(A.number)
if t == nil then return fail('unknown_ticket', 'there is no ticket ' .. A.number .. ' today') end
if t.status ~= 'suspended' then
  return fail('not_suspended', 'ticket ' .. t.number .. ' is ' .. t.status .. ', not suspended')
end
if w.paused == '1' then return fail('window_paused', 'this window is paused; unpause it first') end
open_window(w)
finish_current(w)
hand_to_window(t, w, 'serving')
emit_window({type = 'ticket.resumed', ticket = public(t)}, w)
return action_answer(w, t)
