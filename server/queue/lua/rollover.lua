-- rollover: the business day changed to A.day. Tickets still open expire (counted in the
-- old day's statistics), lines and windows are cleared, numbering restarts (counters are
-- per day), history stays. A no-op when the day is already A.day.
local old = redis.call('GET', P .. 'day')
-- (a hall with no day yet just takes A.day: done() records it)
-- (and never to an earlier day: see the prelude's day check)
if old == A.day or FIRST_DAY or (old and A.day < old) then return done({rolled = false, seq = current_seq()}) end
A.stats_day = old
local expired = 0
for _, token in ipairs(redis.call('SMEMBERS', P .. 'open')) do
  local t = load_ticket(token)
  if t then
    if not blank(t.line) then redis.call('ZREM', t.line, t.token) end
    close_ticket(t, 'expired')
    emit({type = 'ticket.expired', ticket = public(t), stats = old and stats_facts(t, A.hour, true) or nil})
    expired = expired + 1
  end
end
for _, g in ipairs(redis.call('SMEMBERS', P .. 'groups')) do
  for _, c in ipairs(CLASSES) do redis.call('DEL', P .. 'q:' .. g .. ':' .. c) end
end
redis.call('DEL', P .. 'open', P .. 'groups', P .. 'waiting', P .. 'recent')
WAITING = nil  -- (the counts this script may have read are gone)
-- phone numbers left for text messages (server/phone_book.py) live one business day only
redis.call('DEL', P .. 'phones', P .. 'sms:sent')
-- Web Push subscriptions are the day's tickets' (server/push.py)
redis.call('DEL', P .. 'push', P .. 'push:sent')
for _, id in ipairs(A.windows) do
  redis.call('DEL', P .. 'wx:' .. id, P .. 'lastdone:' .. id)
  local w = load_window(id)
  if not blank(w.clerk) then
    local clerk = {id = w.clerk, name = w.clerk_name}
    set_window(w, {clerk = '', clerk_name = '', paused = '', token = '', tstate = ''})
    emit_window({type = 'window.closed', clerk = clerk}, w)
  end
end
-- the lines are gone (the next script that needs their sizes counts them again: lib.line_sizes)
redis.call('DEL', P .. 'sizes')
SIZES = nil
-- appointments whose check-in window has closed unused are counted missed (appointments.lua)
sweep_missed()
redis.call('SET', P .. 'day', A.day)
local seq = emit({type = 'hall.reset', day = A.day, previous_day = old or NULL, expired = expired})
-- the day that ended is counted in full (its expired tickets included) as it closes
count_all_stats()
return done({rolled = true, expired = expired, seq = seq})
