-- orphans: after a change of the hall file, no open ticket may wait where no window can
-- take it. A.services: the hall's service ids; A.all_windows: its windows {id, tiers}.
-- An open ticket with a service the hall no longer has, or no window that serves its
-- services, or in hand at a window the hall no longer has, expires (ticket.expired with
-- reason); tickets waiting for a window that is gone, closed or paused go back to their
-- services' line (return_reserved). A.dry: only list, write nothing.
-- A manager's change asks more of its dry run, and only of it (a reload settles as above):
-- A.letters_gone: the ticket letters the change takes away; an open ticket numbered with one
-- (reason letter_changed) could be neither spoken when called nor typed on a pad (both know
-- the hall's letters only). A.bookable: the services that will take appointments; a booking
-- still open (booked, its check-in window not over) for one it cannot check in is listed in
-- result.appointments (reason service_removed, not_bookable or no_window_serves).
local known, windows, gone = {}, {}, {}
for _, s in ipairs(A.services) do known[s] = true end
if A.dry then for _, letter in ipairs(A.letters_gone or {}) do gone[letter] = true end end
for _, cand in ipairs(A.all_windows) do windows[cand.id] = cand end
local expire, back, leave, leaving = {}, {}, {}, {}
local function serving_window(services)
  for _, cand in ipairs(A.all_windows) do
    if tier_of(cand.tiers, services) ~= nil then return true end
  end
  return false
end
local function item(t, window, reason)
  return {number = t.number, status = t.status, services = split(t.services), window = window, reason = reason}
end
local function settle_window(id, reason)
  if leave[id] == nil then leaving[#leaving + 1] = id end
  leave[id] = reason
end
for _, token in ipairs(redis.call('SMEMBERS', P .. 'open')) do
  local t = load_ticket(token)
  if t then
    local reason = nil
    for _, s in ipairs(split(t.services)) do if not known[s] then reason = 'service_removed' end end
    local in_hand = t.status == 'called' or t.status == 'serving'
    if reason == nil and in_hand and not windows[t.window] then reason = 'window_removed' end
    if reason == nil and gone[string.sub(t.number, 1, 1)] then reason = 'letter_changed' end
    if reason == nil and not in_hand and not serving_window(split(t.services)) then reason = 'no_window_serves' end
    if reason then
      expire[#expire + 1] = {t = t, reason = reason}
    elseif t.status == 'waiting' and not blank(t.to_window) then
      local status = windows[t.to_window] and window_status(load_window(t.to_window)) or 'removed'
      if status == 'closed' or status == 'paused' or status == 'removed' then
        back[#back + 1] = item(t, t.to_window, 'window_' .. status)
        settle_window(t.to_window, 'window_' .. status)
      end
    end
  end
end
local result = {expired = {}, returned = back, seq = current_seq()}
for _, e in ipairs(expire) do
  result.expired[#result.expired + 1] = item(e.t, blank(e.t.window) and NULL or e.t.window, e.reason)
end
if A.dry then
  result.ok = true
  if A.bookable then
    local bookable = {}
    for _, s in ipairs(A.bookable) do bookable[s] = true end
    result.appointments = {}
    for _, code in ipairs(redis.call('ZRANGEBYSCORE', P .. 'ap:pending', NOW, '+inf')) do
      local a = load_appt(code)
      if a and a.status == 'booked' then
        local services, reason = split(a.services), nil
        for _, s in ipairs(services) do
          if not known[s] then reason = 'service_removed' elseif not bookable[s] and not reason then
            reason = 'not_bookable'
          end
        end
        if reason == nil and not serving_window(services) then reason = 'no_window_serves' end
        if reason then
          local item = appt_public(a, false)
          item.reason = reason
          result.appointments[#result.appointments + 1] = item
        end
      end
    end
  end
  return cjson.encode(result)
end
for _, e in ipairs(expire) do
  local t = e.t
  if t.status == 'waiting' then dequeue(t) end
  if (t.status == 'called' or t.status == 'serving') and not blank(t.window) then
    redis.call('HSET', wkey(t.window), 'token', '', 'tstate', '')
  end
  close_ticket(t, 'expired')
  emit({type = 'ticket.expired', ticket = public(t), reason = e.reason, waiting = waiting_counts(),
    stats = stats_facts(t, A.hour, false)})
end
table.sort(leaving)
for _, id in ipairs(leaving) do return_reserved(load_window(id), leave[id]) end
result.seq = current_seq()
return done(result)
