-- orphans: after a change of the hall file, no open ticket may wait where no window can
-- take it. A.services: the hall's service ids; A.all_windows: its windows {id, tiers}.
-- An open ticket with a service the hall no longer has, or no window that serves its
-- services, or in hand at a window the hall no longer has, expires (ticket.expired with
-- reason); one transferred to a window that is gone, closed or paused goes back to its
-- services' line (ticket.transferred with reason). A.dry: only list, write nothing.
local known, windows = {}, {}
for _, s in ipairs(A.services) do known[s] = true end
for _, cand in ipairs(A.all_windows) do windows[cand.id] = cand end
local expire, back = {}, {}
for _, token in ipairs(redis.call('SMEMBERS', P .. 'open')) do
  local t = load_ticket(token)
  if t then
    local services = split(t.services)
    local reason = nil
    for _, s in ipairs(services) do if not known[s] then reason = 'service_removed' end end
    local in_hand = t.status == 'called' or t.status == 'serving'
    if reason == nil and in_hand and not windows[t.window] then reason = 'window_removed' end
    if reason == nil and not in_hand then
      local serves = false
      for _, cand in ipairs(A.all_windows) do
        if tier_of(cand.tiers, services) ~= nil then serves = true end
      end
      if not serves then reason = 'no_window_serves' end
    end
    if reason then
      expire[#expire + 1] = {t = t, reason = reason}
    elseif t.status == 'waiting' and not blank(t.to_window) and not windows[t.to_window] then
      back[#back + 1] = {t = t, reason = 'window_removed'}
    end
  end
end
local function listed(items, key)
  local out = {}
  for _, item in ipairs(items) do
    out[#out + 1] = {number = item.t.number, status = item.t.status, services = split(item.t.services),
      window = blank(item.t[key]) and NULL or item.t[key], reason = item.reason}
  end
  return out
end
-- windows still in the file but closed or paused with tickets reserved for them
local stranded = {}
for _, cand in ipairs(A.all_windows) do
  local w = load_window(cand.id)
  local status = window_status(w)
  if (status == 'closed' or status == 'paused') and redis.call('ZCARD', P .. 'wx:' .. cand.id) > 0 then
    stranded[#stranded + 1] = {w = w, reason = 'window_' .. status}
    for _, token in ipairs(redis.call('ZRANGE', P .. 'wx:' .. cand.id, 0, -1)) do
      local t = load_ticket(token)
      if t then back[#back + 1] = {t = t, reason = 'window_' .. status} end
    end
  end
end
local result = {expired = listed(expire, 'window'), returned = listed(back, 'to_window'), seq = current_seq()}
if A.dry then
  result.ok = true
  return cjson.encode(result)
end
for _, item in ipairs(expire) do
  local t = item.t
  if t.status == 'waiting' then dequeue(t) end
  if (t.status == 'called' or t.status == 'serving') and not blank(t.window) then
    redis.call('HSET', wkey(t.window), 'token', '', 'tstate', '')
  end
  close_ticket(t, 'expired')
  stat(dims_for(t, A.hour, false), 'expired', 1)
  emit({type = 'ticket.expired', ticket = public(t), reason = item.reason, waiting = waiting_counts()})
end
for _, item in ipairs(back) do
  local t = item.t
  if windows[t.to_window] == nil then
    -- a window that is gone: its line goes back like a closed window's
    return_reserved({id = t.to_window}, item.reason)
  end
end
for _, s in ipairs(stranded) do return_reserved(s.w, s.reason) end
result.seq = current_seq()
return done(result)
