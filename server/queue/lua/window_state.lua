-- window_state (read-only): one window as its clerk's pad sees it, ticket token included.
local w = load_window(A.window)
local day = redis.call('GET', P .. 'day') or A.today
return done({
  seq = current_seq(), window = window_public(w, true), waiting = waiting_counts(),
  served_today = tonumber(redis.call('HGET', P .. 'stats:' .. day, 'window|' .. A.window .. '|served') or '0'),
})
