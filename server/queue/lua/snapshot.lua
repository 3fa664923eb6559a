-- snapshot: the hall's state and the seq it reflects, read atomically, so a client applying
-- events after `seq` neither skips nor repeats one. Its only writes: it counts the statistics
-- not yet counted first (stats.lua), so served_today includes every event up to `seq`.
local windows = {}
for _, id in ipairs(A.windows) do windows[#windows + 1] = window_public(load_window(id), false) end
local since = {}
local function oldest(key, services)
  for _, token in ipairs(redis.call('ZRANGE', key, 0, 0)) do
    local issued = tonumber(redis.call('HGET', tkey(token), 'issued_at'))
    for _, s in ipairs(services) do
      if since[s] == nil or issued < since[s] then since[s] = issued end
    end
  end
end
for _, g in ipairs(redis.call('SMEMBERS', P .. 'groups')) do
  for _, c in ipairs(CLASSES) do oldest(P .. 'q:' .. g .. ':' .. c, split(g)) end
end
local recent = {}
for i, text in ipairs(redis.call('LRANGE', P .. 'recent', 0, RECENT_CALLS - 1)) do recent[i] = cjson.decode(text) end
-- The lobby's 过号 list: open tickets marked no-show that wait to be called again, newest
-- call first (their no-show came after that call), at most A.no_shows_max. One HMGET per
-- open ticket: a hall has hundreds at most, and a snapshot is read on (re)connect only.
local no_shows = {}
for _, token in ipairs(redis.call('SMEMBERS', P .. 'open')) do
  local f = redis.call('HMGET', tkey(token), 'status', 'noshows', 'number', 'services', 'called_at')
  if f[1] == 'waiting' and tonumber(f[2] or '0') > 0 then
    no_shows[#no_shows + 1] = {number = f[3], services = split(f[4] or ''), no_shows = tonumber(f[2]),
      called_at = tonumber(f[5] or '0')}
  end
end
table.sort(no_shows, function(a, b)
  if a.called_at ~= b.called_at then return a.called_at > b.called_at end
  return a.number < b.number
end)
for i = #no_shows, (A.no_shows_max or 12) + 1, -1 do no_shows[i] = nil end
local day = redis.call('GET', P .. 'day') or A.today
count_all_stats()  -- served_today counts every event up to this seq (stats.lua)
return done({
  seq = current_seq(), windows = windows, waiting = waiting_counts(), waiting_since = since,
  recent = recent, notice = redis.call('GET', P .. 'notice') or '', day = day,
  served_today = tonumber(redis.call('HGET', P .. 'stats:' .. day, 'all|all|served') or '0'),
  no_shows = no_shows, eta = eta_inputs(A.windows, A.services),
})
