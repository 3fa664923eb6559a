-- unbook: the visitor cancels the appointment whose token is A.token; its places are free
-- again at once. Refuses unknown_appointment, checked_in, not_booked (cancelled or missed),
-- too_late (its check-in window has closed: it is missed, not cancelled).
local a = load_appt(redis.call('GET', P .. 'apt:' .. A.token) or '')
if a == nil then return fail('unknown_appointment', 'no such appointment') end
if a.status == 'checked_in' then
  return fail('checked_in', 'this appointment is checked in already; cancel its ticket ' .. a.number .. ' instead')
end
if a.status ~= 'booked' then return fail('not_booked', 'this appointment is ' .. a.status) end
if NOW > tonumber(a.until_ms) then
  return fail('too_late', 'the check-in time of this appointment is over')
end
free_places(a)
redis.call('ZREM', P .. 'ap:pending', a.code)
redis.call('HSET', akey(a.code), 'status', 'cancelled')
a.status = 'cancelled'
local seq = emit({type = 'appointment.cancelled', appointment = appt_public(a, false), stats = {day = a.date}})
return done({appointment = appt_public(a, true), seq = seq})
