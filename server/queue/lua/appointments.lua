-- Appointments (预约): shared by book, unbook, check_in and rollover (part of the prelude).
--
-- Keys (all under the hall's {HALL} tag):
--   ap:CODE            hash: code, token, date, start, end, services, status (booked, cancelled,
--                      checked_in, missed), person, from_ms, until_ms, booked_at, ticket, number
--   apt:TOKEN          string: the code of the appointment with that (visitor's) token
--   ap:slot:DATE       hash: SERVICE|START -> places taken (booked or checked in)
--   ap:person:DATE     hash: PERSON|SERVICE -> code (one booking per person, day and service)
--   ap:pending         zset: codes still 'booked', scored by the end of their check-in window
-- Their events count in the appointment's own date's statistics (stats = {day = date}):
-- appointments_booked, _cancelled, _checked_in, _missed (dims all|all and service|S).

local function akey(code) return P .. 'ap:' .. code end

local function load_appt(code)
  if blank(code) then return nil end
  local flat = redis.call('HGETALL', akey(code))
  if #flat == 0 then return nil end
  local a = {}
  for i = 1, #flat, 2 do a[flat[i]] = flat[i + 1] end
  return a
end

-- What the visitor sees; screens and webhooks get it without code and token.
local function appt_public(a, secret)
  local p = {date = a.date, start = a.start, ['end'] = a['end'], services = split(a.services), status = a.status}
  if not blank(a.number) then p.number = a.number end
  if secret then
    p.code = a.code
    p.token = a.token
  end
  return p
end

-- Gives the places of a booked appointment back (a cancellation: never a missed one).
local function free_places(a)
  for _, s in ipairs(split(a.services)) do
    redis.call('HINCRBY', P .. 'ap:slot:' .. a.date, s .. '|' .. a.start, -1)
    if not blank(a.person) then
      local field = a.person .. '|' .. s
      if redis.call('HGET', P .. 'ap:person:' .. a.date, field) == a.code then
        redis.call('HDEL', P .. 'ap:person:' .. a.date, field)
      end
    end
  end
end

-- Marks every booking whose check-in window closed before NOW as missed (counted once, in
-- its date's statistics). Its place is not given back: the slot is over.
local function sweep_missed(limit)
  local codes = redis.call('ZRANGEBYSCORE', P .. 'ap:pending', '-inf', '(' .. NOW, 'LIMIT', 0, limit or 10000)
  for _, code in ipairs(codes) do
    redis.call('ZREM', P .. 'ap:pending', code)
    local a = load_appt(code)
    if a and a.status == 'booked' then
      redis.call('HSET', akey(code), 'status', 'missed')
      a.status = 'missed'
      emit({type = 'appointment.missed', appointment = appt_public(a, false), stats = {day = a.date}})
    end
  end
  return #codes
end
