-- book: an appointment for A.services in slot A.date A.start (validated by the engine: a slot
-- of the hall file, bookable now). Refuses code_taken (the engine draws another code),
-- slot_full, duplicate (the same person already holds one for a service that day: booked,
-- checked in or missed — a missed appointment frees nothing; only a cancelled one does).
if redis.call('EXISTS', akey(A.code)) == 1 or redis.call('EXISTS', P .. 'apt:' .. A.token) == 1 then
  return fail('code_taken', 'that code is in use; draw another')
end
local slots = P .. 'ap:slot:' .. A.date
for _, s in ipairs(A.services) do
  local taken = tonumber(redis.call('HGET', slots, s .. '|' .. A.start) or '0')
  if taken >= A.per_slot then
    return fail('slot_full', 'the ' .. A.start .. ' slot of ' .. A.date .. ' is fully booked; choose another',
      {service = s})
  end
end
if A.person then
  for _, s in ipairs(A.services) do
    local other = load_appt(redis.call('HGET', P .. 'ap:person:' .. A.date, A.person .. '|' .. s) or '')
    if other and other.status ~= 'cancelled' then
      return fail('duplicate', 'you already have an appointment for this service on ' .. A.date ..
        ' at ' .. other.start, {service = s, start = other.start})
    end
  end
end
local a = {
  code = A.code, token = A.token, date = A.date, start = A.start, ['end'] = A['end'],
  services = table.concat(A.services, ','), status = 'booked', person = A.person or '',
  from_ms = tostring(A.from_ms), until_ms = tostring(A.until_ms), booked_at = tostring(NOW),
  ticket = '', number = '', by = A.by or '',
}
local args = {}
for k, v in pairs(a) do
  args[#args + 1] = k
  args[#args + 1] = v
end
redis.call('HSET', akey(A.code), unpack(args))
redis.call('SET', P .. 'apt:' .. A.token, A.code)
local ttl = A.ttl_s
redis.call('EXPIRE', akey(A.code), ttl)
redis.call('EXPIRE', P .. 'apt:' .. A.token, ttl)
for _, s in ipairs(A.services) do
  redis.call('HINCRBY', slots, s .. '|' .. A.start, 1)
  if A.person then redis.call('HSET', P .. 'ap:person:' .. A.date, A.person .. '|' .. s, A.code) end
end
redis.call('EXPIRE', slots, ttl)
if A.person then redis.call('EXPIRE', P .. 'ap:person:' .. A.date, ttl) end
redis.call('ZADD', P .. 'ap:pending', A.until_ms, A.code)
local seq = emit({type = 'appointment.booked', appointment = appt_public(a, false), stats = {day = a.date}})
return done({appointment = appt_public(a, true), seq = seq})
