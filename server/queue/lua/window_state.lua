-- window_state (reads the queue; counts the statistics not yet counted, for served_today): one window as its clerk's pad sees it, ticket token included;
-- `queue`: the first A.limit tickets this window can call, in the order it would call them
-- (the order of best_for_window: rank, tier, place in line), `queue_total`: how many distinct
-- tickets it can call (each ticket sits in one line, so a combined ticket counts once), and
-- `suspended`: tickets on hold that it could resume.
local w = load_window(A.window)
local day = redis.call('GET', P .. 'day') or A.today
local limit = A.limit or 50
local candidates = {}
local total = 0
local function collect(key, rank, tier)
  local head = redis.call('ZRANGE', key, 0, limit - 1, 'WITHSCORES')
  for i = 1, #head, 2 do
    candidates[#candidates + 1] = {rank, tier, tonumber(head[i + 1]), head[i]}
  end
  total = total + redis.call('ZCARD', key)
end
collect(P .. 'wx:' .. A.window, 0, -1)
for _, g in ipairs(redis.call('SMEMBERS', P .. 'groups')) do
  local tier = tier_of(A.tiers, split(g))
  if tier ~= nil then
    for i, c in ipairs(CLASSES) do collect(P .. 'q:' .. g .. ':' .. c, i - 1, tier) end
  end
end
table.sort(candidates, function(a, b)
  for i = 1, 4 do
    if a[i] ~= b[i] then return a[i] < b[i] end
  end
  return false
end)
local queue = {}
for i = 1, math.min(limit, #candidates) do
  local f = redis.call('HMGET', tkey(candidates[i][4]), 'number', 'services', 'priority', 'transferred')
  queue[i] = {number = f[1], services = split(f[2]), priority = (f[3] == '1'), transferred = (f[4] == '1')}
end
-- Tickets on hold have no line of their own: look through today's open tickets.
local suspended = {}
for _, token in ipairs(redis.call('SMEMBERS', P .. 'open')) do
  local f = redis.call('HMGET', tkey(token), 'status', 'number', 'services', 'window')
  if f[1] == 'suspended' and tier_of(A.tiers, split(f[3])) ~= nil then
    suspended[#suspended + 1] = {number = f[2], services = split(f[3]), window = f[4] or ''}
  end
end
table.sort(suspended, function(a, b) return a.number < b.number end)
while #suspended > limit do table.remove(suspended) end
count_all_stats()  -- served_today counts every event up to this seq (stats.lua)
return done({
  seq = current_seq(), window = window_public(w, true), waiting = waiting_counts(),
  served_today = tonumber(redis.call('HGET', P .. 'stats:' .. day, 'window|' .. A.window .. '|served') or '0'),
  queue = queue, queue_total = total, suspended = suspended,
})
