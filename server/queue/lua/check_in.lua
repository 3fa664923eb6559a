-- check_in: the visitor arrives for an appointment, found by A.code or by A.person (their
-- hashed ID number) among the bookings of A.dates (today's, and tomorrow's near midnight)
-- for A.all_services; it is turned into a waiting ticket of class 'a' (ahead of walk-ins of
-- its services, behind priority and transferred).
-- Refuses unknown_appointment, checked_in, not_booked, too_early, too_late,
-- duplicate_ticket (an open ticket for one of its services already), numbers_exhausted.
local a = nil
if A.code then
  a = load_appt(A.code)
else
  -- by person: the booking whose window is open now, else the one that best explains a refusal
  local function pref(c)
    if c.status == 'booked' then
      if NOW < tonumber(c.from_ms) then return 1 end
      if NOW > tonumber(c.until_ms) then return 2 end
      return 0
    end
    if c.status == 'checked_in' then return 3 end
    return 4
  end
  for _, day in ipairs(A.dates) do
    for _, s in ipairs(A.all_services) do
      local c = load_appt(redis.call('HGET', P .. 'ap:person:' .. day, A.person .. '|' .. s) or '')
      if c and (a == nil or pref(c) < pref(a)) then a = c end
    end
  end
end
if a == nil then return fail('unknown_appointment', 'no appointment found for this code or ID number') end
if a.status == 'checked_in' then
  return fail('checked_in', 'this appointment is checked in already: ticket ' .. a.number, {number = a.number})
end
if a.status ~= 'booked' then return fail('not_booked', 'this appointment is ' .. a.status) end
if NOW < tonumber(a.from_ms) then
  return fail('too_early', 'check-in for the ' .. a.start .. ' slot of ' .. a.date .. ' has not opened yet',
    {opens_at = tonumber(a.from_ms), start = a.start, date = a.date})
end
if NOW > tonumber(a.until_ms) then
  return fail('too_late', 'the check-in time of the ' .. a.start .. ' slot is over; please take a ticket',
    {start = a.start, date = a.date})
end
local services = split(a.services)
if not blank(a.person) then
  for _, s in ipairs(services) do
    local other = load_ticket(redis.call('HGET', P .. 'person:' .. a.person, s) or '')
    if other and OPEN[other.status] then
      return fail('duplicate_ticket', 'you already hold ticket ' .. other.number ..
        ' for this service; please keep that ticket', {number = other.number, service = s})
    end
  end
end
local prefix = A.prefixes[services[1]]
local counter = P .. 'ctr:' .. A.day .. ':' .. prefix
local n = tonumber(redis.call('GET', counter) or '0') + 1
if n > 999 then return fail('numbers_exhausted', 'no more numbers for prefix ' .. prefix .. ' today') end
-- checks done: write
redis.call('SET', counter, n, 'EX', 3 * 86400)
local number = string.format('%s%03d', prefix, n)
local sorted = {}
for i, s in ipairs(services) do sorted[i] = s end
table.sort(sorted)
local group = table.concat(sorted, ',')
local t = {token = A.token}
set_fields(t, {
  token = A.token, number = number, services = a.services, group = group,
  class = 'a', priority = '0', lang = A.lang, appointment = a.code,
  issued_at = tostring(NOW), ihour = A.hour, day = A.day, person = a.person, noshows = '0',
  window = '', clerk = '', called_at = '', done_at = '', to_window = '', transferred = '',
})
redis.call('EXPIRE', tkey(A.token), 40 * 86400)
redis.call('SET', P .. 'num:' .. A.day .. ':' .. number, A.token, 'EX', 3 * 86400)
if not blank(a.person) then
  for _, s in ipairs(services) do redis.call('HSET', P .. 'person:' .. a.person, s, A.token) end
  redis.call('EXPIRE', P .. 'person:' .. a.person, 3 * 86400)
end
redis.call('SADD', P .. 'open', A.token)
redis.call('RPUSH', P .. 'day:' .. A.day, A.token)
redis.call('EXPIRE', P .. 'day:' .. A.day, 40 * 86400)
enqueue(t, redis.call('INCR', P .. 'order'))
redis.call('HSET', akey(a.code), 'status', 'checked_in', 'ticket', A.token, 'number', number,
  'checked_in_at', tostring(NOW))
redis.call('ZREM', P .. 'ap:pending', a.code)
a.status = 'checked_in'
a.number = number
emit({type = 'appointment.checked_in', appointment = appt_public(a, false), stats = {day = a.date}})
local seq = emit({type = 'ticket.issued', ticket = public(t), waiting = waiting_counts(),
  stats = stats_facts(t, A.hour, false)})
local ahead, ahead_groups = people_ahead(t)
return done({ticket = public(t, true), ahead = ahead, ahead_groups = ahead_groups, seq = seq,
  eta = eta_inputs(A.windows, services), appointment = appt_public(a, true)})
