-- cancel: the visitor (or the desk) gives up a waiting or suspended ticket A.token.
local t = load_ticket(A.token)
if t == nil then return fail('unknown_ticket', 'no such ticket') end
if t.status ~= 'waiting' and t.status ~= 'suspended' then
  return fail('not_waiting', 'ticket ' .. t.number .. ' is ' .. t.status .. ' and can no longer be cancelled')
end
if t.status == 'waiting' then dequeue(t) end
close_ticket(t, 'cancelled')
local seq = emit({type = 'ticket.cancelled', ticket = public(t), waiting = waiting_counts(),
  stats = stats_facts(t, A.hour, false)})
return done({ticket = public(t, true), seq = seq})
