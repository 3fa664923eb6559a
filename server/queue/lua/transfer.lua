-- transfer (转移): the window's ticket moves to service(s) A.services_new and/or window
-- A.to_window, keeping its number, ahead of ordinary tickets there. The engine has checked
-- that the target serves the ticket.
local w, err = check_window(A.window)
if err then return err end
local t = load_ticket(w.token)
if t == nil or (t.status ~= 'called' and t.status ~= 'serving') then
  return fail('nothing_in_hand', 'no ticket in hand at this window to transfer')
end
if A.to_window and A.to_window == A.window then
  return fail('same_window', 'a ticket cannot be transferred to the window it is at')
end
local services = A.services_new or split(t.services)
local group = {unpack(services)}
table.sort(group)
if A.to_window and A.to_tiers and tier_of(A.to_tiers, services) == nil then
  return fail('window_cannot_serve', 'window ' .. A.to_window .. ' does not serve this ticket\'s services')
end
if A.to_window then
  -- nobody could call a ticket waiting for a closed or paused window: name the open ones
  local status = window_status(load_window(A.to_window))
  if status == 'closed' or status == 'paused' then
    local open = open_windows_for(services, A.window)
    local names = #open > 0 and ('; open windows that can take it: ' .. table.concat(open, ', ')) or
      '; no other window that can take it is open (transfer to its service instead)'
    return fail('window_not_open', 'window ' .. A.to_window .. ' is ' .. status .. names,
      {to_window = A.to_window, window_status = status, open_windows = open})
  end
end
open_window(w)
set_window(w, {token = '', tstate = ''})
-- counted under the services, window and clerk it leaves
local facts = stats_facts(t, A.hour, true, {services = split(t.services)})
release_person(t)
set_fields(t, {services = table.concat(services, ','), group = table.concat(group, ','), class = 'x', transferred = '1',
  to_window = A.to_window or '', window = '', clerk = '', person = ''})
enqueue(t, redis.call('INCR', P .. 'order'))
emit_window({type = 'ticket.transferred', ticket = public(t), from_window = A.window,
  to_window = A.to_window or NULL, to_service = A.service or NULL, stats = facts}, w)
return action_answer(w, t)
