-- Statistics counted from the event stream (part of the prelude, after lib.lua).
--
-- An action does not count: each event that counts carries its facts in a "stats" field
-- (lib.lua stats_facts). count_stats reads the events after the hall's stats_seq, adds up
-- what they count in one table and writes each counter once (HINCRBY), then advances
-- stats_seq, all in the same script: atomic, so two processes running it at once count
-- every event exactly once. The same rule in Python: server/stats_rule.py (the tests hold
-- the two together).

-- The histogram bucket of a duration in seconds (server/sketch.py bucket).
local function bucket(s)
  if s < 600 then return s end
  if s < 3600 then return 600 + math.floor((s - 600) / 10) * 10 end
  return math.floor(s / 60) * 60
end

-- The metrics an event counts, by type (besides durations, ratings and appointments).
local COUNTED = {
  ['ticket.issued'] = 'issued', ['ticket.cancelled'] = 'cancelled', ['ticket.completed'] = 'served',
  ['ticket.no_show'] = 'no_show', ['ticket.transferred'] = 'transferred', ['ticket.expired'] = 'expired',
  ['ticket.rated'] = 'rated',
}

-- Adds what event ev counts to sums ({stats key: {field: increment}}): under all|all, each
-- of its services (the facts' own, else its ticket's or appointment's), the facts' hour,
-- window and clerk where given; the metric from its type; wait_s / handle_s as a sum and a
-- histogram bucket; a rating as rating_SCORE; appointment.X as appointments_X.
local function count_event(sums, ev)
  local f = ev.stats
  if type(f) ~= 'table' then return end
  local key = P .. 'stats:' .. f.day
  local fields = sums[key]
  if fields == nil then
    fields = {}
    sums[key] = fields
  end
  local dims = {'all|all'}
  local holder = ev.ticket or ev.appointment or {}
  for _, s in ipairs(f.services or holder.services or {}) do dims[#dims + 1] = 'service|' .. s end
  if f.hour then dims[#dims + 1] = 'hour|' .. f.hour end
  if f.window then dims[#dims + 1] = 'window|' .. f.window end
  if f.clerk then dims[#dims + 1] = 'clerk|' .. f.clerk end
  local function add(metric, inc)
    for _, d in ipairs(dims) do
      local field = d .. '|' .. metric
      fields[field] = (fields[field] or 0) + inc
    end
  end
  if string.sub(ev.type, 1, 12) == 'appointment.' then add('appointments_' .. string.sub(ev.type, 13), 1) end
  if COUNTED[ev.type] then add(COUNTED[ev.type], 1) end
  if ev.type == 'ticket.rated' then add('rating_' .. ev.score, 1) end
  if f.wait_s then
    add('wait_sum', f.wait_s)
    add('wait_h:' .. bucket(f.wait_s), 1)
  end
  if f.handle_s then
    add('handle_sum', f.handle_s)
    add('handle_h:' .. bucket(f.handle_s), 1)
  end
end

-- Counts the events after stats_seq, at most 'limit' of them, and advances stats_seq past
-- them. Returns {counted, stats_seq, left (events still to count), lost (events trimmed or
-- missing before they were counted: 0 unless the stream was cut, e.g. a partial restore)}.
count_stats = function(limit)
  local key = P .. 'stats_seq'
  local from = tonumber(redis.call('GET', key) or '0')
  local last = current_seq()
  if from > last then
    -- the store went back in time (restored without this key's value): follow it
    redis.call('SET', key, last)
    from = last
  end
  if from == last then return {counted = 0, stats_seq = from, left = 0, lost = 0} end
  local entries = redis.call('XRANGE', P .. 'events', (from + 1) .. '-0', '+', 'COUNT', limit)
  local sums, upto, lost = {}, from, 0
  for _, entry in ipairs(entries) do
    local seq = tonumber(string.match(entry[1], '^%d+'))
    lost = lost + (seq - upto - 1)
    upto = seq
    count_event(sums, cjson.decode(entry[2][2]))
  end
  if #entries == 0 then
    lost = last - from
    upto = last
  end
  for stats_key, fields in pairs(sums) do
    for field, inc in pairs(fields) do redis.call('HINCRBY', stats_key, field, inc) end
    redis.call('EXPIRE', stats_key, 460 * 86400)
  end
  redis.call('SET', key, upto)
  return {counted = #entries, stats_seq = upto, left = last - upto, lost = lost}
end

-- Counts every event not yet counted (a stats read must see the last action), in batches.
local function count_all_stats()
  local r = count_stats(STATS_BATCH)
  while r.left > 0 do r = count_stats(STATS_BATCH) end
  return r
end
