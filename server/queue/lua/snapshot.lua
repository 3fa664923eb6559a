-- snapshot (read-only): the hall's state and the seq it reflects, read atomically, so a
-- client applying events after `seq` neither skips nor repeats one.
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
for i, text in ipairs(redis.call('LRANGE', P .. 'recent', 0, 15)) do recent[i] = cjson.decode(text) end
local day = redis.call('GET', P .. 'day') or A.today
return done({
  seq = current_seq(), windows = windows, waiting = waiting_counts(), waiting_since = since,
  recent = recent, notice = redis.call('GET', P .. 'notice') or '', day = day,
  served_today = tonumber(redis.call('HGET', P .. 'stats:' .. day, 'all|all|served') or '0'),
})
