-- Shared prelude of every hallq script; the engine prepends it to each action's body.
--
-- Calling convention: KEYS[1] = 'hallq:{HALL}:seq' (names the hall's Cluster slot; every
-- other key is derived from it and shares the {HALL} hash tag), ARGV[1] = JSON arguments:
-- now (epoch ms), day (business day), hour (local hour "HH"), hall, retention, rid
-- (request_id, optional) and the action's own fields. Every script returns one JSON text:
-- {"ok":true,...} or {"ok":false,"code":...,"message":...}. A refusal changes nothing:
-- each body checks everything before its first write.

local A = cjson.decode(ARGV[1])
local P = string.sub(KEYS[1], 1, -4)
local NOW = A.now
local NULL = cjson.null
local OPEN = {waiting = true, called = true, serving = true, suspended = true}
-- line classes, best first (server/queue/rules.py CLASS_RANK): transferred, priority,
-- checked-in appointment (预约), ordinary
local CLASSES = {'x', 'p', 'a', 'o'}

local function fail(code, message, extra)
  local r = {ok = false, code = code, message = message}
  if extra then for k, v in pairs(extra) do r[k] = v end end
  return cjson.encode(r)
end

-- The business day a hall that has none yet starts with; written by done(), so that a
-- refused first request leaves Redis untouched.
local FIRST_DAY = nil

-- Statistics are not counted here: an event that counts carries its facts ("stats", see
-- stats_facts) and count_stats (stats.lua, part of the prelude) counts them later from the
-- stream. Declared here so that emit can catch the counting up; defined in stats.lua.
local count_stats

local function done(result)
  if FIRST_DAY then redis.call('SET', P .. 'day', FIRST_DAY) end
  result.ok = true
  local text = cjson.encode(result)
  if A.rid then redis.call('SET', P .. 'req:' .. A.rid, text, 'EX', 86400) end
  return text
end

local function split(s)
  local out = {}
  if s then for part in string.gmatch(s, '[^,]+') do out[#out + 1] = part end end
  return out
end

local function blank(v) return v == nil or v == '' end

-- tickets ---------------------------------------------------------------------

local function tkey(token) return P .. 't:' .. token end

-- The tickets this script has read, by token: a ticket is read from Redis once per script.
-- Every write to a ticket goes through set_fields, which updates the same table, so a second
-- load_ticket sees what the script wrote (an event and the answer both show the ticket).
local TICKETS = {}

local function load_ticket(token)
  if blank(token) then return nil end
  if TICKETS[token] then return TICKETS[token] end
  local flat = redis.call('HGETALL', tkey(token))
  if #flat == 0 then return nil end
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  TICKETS[token] = t
  return t
end

local function ticket_by_number(number)
  return load_ticket(redis.call('GET', P .. 'num:' .. A.day .. ':' .. number) or '')
end

local function num_or_null(v)
  if blank(v) then return NULL end
  return tonumber(v)
end

local function public(t, with_token)
  local p = {
    number = t.number, services = split(t.services), priority = (t.priority == '1'),
    status = t.status, window = blank(t.window) and NULL or t.window,
    issued_at = tonumber(t.issued_at), called_at = num_or_null(t.called_at),
    done_at = num_or_null(t.done_at), lang = t.lang,
  }
  if t.transferred == '1' then p.transferred = true end
  if not blank(t.appointment) then p.appointment = true end
  if t.channel == 'remote' then p.remote = true end
  if not blank(t.to_window) then p.to_window = t.to_window end
  if not blank(t.rating) then p.rating = tonumber(t.rating) end
  if with_token then p.token = t.token end
  return p
end

local function set_fields(t, fields)
  local args = {}
  for k, v in pairs(fields) do
    t[k] = v
    args[#args + 1] = k
    args[#args + 1] = v
  end
  redis.call('HSET', tkey(t.token), unpack(args))
end

-- statistics: what an event counts under (counted from the stream by stats.lua) --------

-- The facts of a counted event: the business day and local hour it counts under, and the
-- ticket's window and clerk when with_window (where known); the counting rule (stats.lua,
-- server/stats_rule.py) takes the metric from the event's type and the services from its
-- ticket. 'extra' adds facts (wait_s, handle_s, services when they differ from the ticket's).
local function stats_facts(t, hour, with_window, extra)
  local f = {day = A.stats_day or A.day, hour = hour}
  if with_window and not blank(t.window) then f.window = t.window end
  if with_window and not blank(t.clerk) then f.clerk = t.clerk end
  if extra then for k, v in pairs(extra) do f[k] = v end end
  return f
end

-- events ----------------------------------------------------------------------

-- The waiting counts per service, read once per script and then kept up to date from the
-- answers of this script's HINCRBYs (count_waiting): an action that emits two events (a call
-- that finishes one ticket and calls another) reads the hash once.
local WAITING = nil

local function waiting_counts()
  if WAITING == nil then
    local flat = redis.call('HGETALL', P .. 'waiting')
    WAITING = {}
    for i = 1, #flat, 2 do WAITING[flat[i]] = tonumber(flat[i + 1]) end
  end
  local w = {}
  for s, n in pairs(WAITING) do w[s] = n end
  return w
end

local function count_waiting(s, d)
  local n = redis.call('HINCRBY', P .. 'waiting', s, d)
  if WAITING then WAITING[s] = n end
end

-- How the waiting lines moved since the last event: {line, score, +1 | -1} per ticket that
-- entered or left a line (line without the hall prefix, score as Redis keeps it). The next
-- event carries them as "moves", so a phone that knows its place (place_of) follows every
-- call from the shared frame alone (server/place.py, kiosk/static/place-rule.js).
local MOVES = {}

-- The seq of this script's last event (nil before its first): current_seq needs no GET then.
local LAST_SEQ = nil

local function moved(key, score, d)
  MOVES[#MOVES + 1] = {string.sub(key, #P + 1), score, d}
end

local function emit(ev)
  if #MOVES > 0 then
    ev.moves = MOVES
    MOVES = {}
  end
  local seq = redis.call('INCR', P .. 'seq')
  LAST_SEQ = seq
  ev.seq = seq
  ev.at = NOW
  ev.hall = A.hall
  local json = cjson.encode(ev)
  redis.call('XADD', P .. 'events', 'MAXLEN', '~', A.retention, seq .. '-0', 'e', json)
  -- The stream keeps at least A.retention events. Every STATS_CHECK_EVERY events, an action
  -- finding the counting more than half of that behind (no process ran it) counts a batch
  -- itself, so an event is never trimmed before it was counted (docs/stats.md).
  if seq % STATS_CHECK_EVERY == 0 and
      seq - tonumber(redis.call('GET', P .. 'stats_seq') or '0') > A.retention / 2 then
    count_stats(STATS_BATCH)
  end
  if ev.type == 'ticket.called' or ev.type == 'ticket.recalled' then
    redis.call('LPUSH', P .. 'recent', json)
    redis.call('LTRIM', P .. 'recent', 0, RECENT_CALLS - 1)
  end
  return seq
end

local function current_seq() return LAST_SEQ or tonumber(redis.call('GET', P .. 'seq') or '0') end

-- windows ---------------------------------------------------------------------

local function wkey(id) return P .. 'w:' .. id end

local function load_window(id)
  local flat = redis.call('HGETALL', wkey(id))
  local w = {id = id, clerk = '', clerk_name = '', paused = '', token = '', tstate = ''}
  for i = 1, #flat, 2 do w[flat[i]] = flat[i + 1] end
  return w
end

local function window_status(w)
  if blank(w.clerk) then return 'closed' end
  if w.paused == '1' then return 'paused' end
  if not blank(w.tstate) then return w.tstate end
  return 'idle'
end

-- The windows open for calling (neither closed nor paused), for an ETA without reading every
-- window: the 'callable' hash, window -> '1', and '_' = the window ids it was counted for
-- (the hall file's, comma-joined). set_window keeps it as a window opens, closes, pauses and
-- unpauses; a script that finds it counted for other windows (the day's first since an
-- upgrade, or a changed hall file) counts it again from the windows themselves.
local function set_window(w, fields)
  local args = {}
  for k, v in pairs(fields) do
    w[k] = v
    args[#args + 1] = k
    args[#args + 1] = v
  end
  redis.call('HSET', wkey(w.id), unpack(args))
  if fields.clerk ~= nil or fields.paused ~= nil then
    if blank(w.clerk) or w.paused == '1' then
      redis.call('HDEL', P .. 'callable', w.id)
    else
      redis.call('HSET', P .. 'callable', w.id, '1')
    end
  end
end

local function callable_windows(window_ids)
  local flat = redis.call('HGETALL', P .. 'callable')
  local open = {}
  for i = 1, #flat, 2 do open[flat[i]] = flat[i + 1] end
  local counted_for = table.concat(window_ids, ',')
  if open['_'] == counted_for then return open end
  open = {['_'] = counted_for}
  local args = {'_', counted_for}
  for _, id in ipairs(window_ids) do
    local status = window_status(load_window(id))
    if status ~= 'closed' and status ~= 'paused' then
      open[id] = '1'
      args[#args + 1] = id
      args[#args + 1] = '1'
    end
  end
  redis.call('DEL', P .. 'callable')
  redis.call('HSET', P .. 'callable', unpack(args))
  return open
end

local function window_public(w, with_token)
  local ticket = NULL
  if not blank(w.token) then
    local t = load_ticket(w.token)
    if t then ticket = public(t, with_token) end
  end
  local clerk = NULL
  if not blank(w.clerk) then clerk = {id = w.clerk, name = w.clerk_name} end
  return {id = w.id, status = window_status(w), ticket = ticket, clerk = clerk}
end

-- An event about a window carries the window's new state, so screens need no other lookup.
local function emit_window(ev, w)
  ev.window = w.id
  ev.window_state = window_public(w, false)
  ev.waiting = waiting_counts()
  return emit(ev)
end

-- waiting lines ---------------------------------------------------------------

local function line_key(t)
  if not blank(t.to_window) then return P .. 'wx:' .. t.to_window end
  return P .. 'q:' .. t.group .. ':' .. t.class
end

-- The size of every line (the 'sizes' hash: line without the hall prefix -> tickets in it,
-- with the field '_' once it is complete), so that a call or a ticket's place reads one hash
-- instead of asking each line of the hall, most of them empty. Every ZADD and ZREM of a line
-- counts here (count_line); rollover deletes it with the lines. A hall without it (its first
-- script since the day began, or since an upgrade) counts its lines once: those of its groups,
-- and the window lines its open tickets wait in.
local SIZES = nil

local function line_sizes()
  if SIZES then return SIZES end
  local flat = redis.call('HGETALL', P .. 'sizes')
  SIZES = {}
  for i = 1, #flat, 2 do SIZES[flat[i]] = tonumber(flat[i + 1]) end
  if SIZES['_'] then return SIZES end
  local ids = {}
  for _, g in ipairs(redis.call('SMEMBERS', P .. 'groups')) do
    for _, c in ipairs(CLASSES) do ids['q:' .. g .. ':' .. c] = true end
  end
  for _, token in ipairs(redis.call('SMEMBERS', P .. 'open')) do
    local line = redis.call('HGET', tkey(token), 'line')
    if line and string.sub(line, 1, #P + 3) == P .. 'wx:' then ids[string.sub(line, #P + 1)] = true end
  end
  SIZES = {['_'] = 1}
  local args = {'_', '1'}
  for id in pairs(ids) do
    local n = redis.call('ZCARD', P .. id)
    if n > 0 then
      SIZES[id] = n
      args[#args + 1] = id
      args[#args + 1] = n
    end
  end
  redis.call('DEL', P .. 'sizes')
  redis.call('HSET', P .. 'sizes', unpack(args))
  return SIZES
end

-- How many tickets wait in line 'key' (a key with the hall prefix).
local function line_size(key) return line_sizes()[string.sub(key, #P + 1)] or 0 end

-- Line 'key' gained (d > 0) or lost (d < 0) d tickets: the answer of its ZADD or ZREM.
local function count_line(key, d)
  if d == 0 then return end
  local id = string.sub(key, #P + 1)
  local n = redis.call('HINCRBY', P .. 'sizes', id, d)
  if SIZES then SIZES[id] = n end
end

-- Puts t in its line at score; 'fields' (optional) are more of its fields, written in the
-- same HSET (issue writes a new ticket's fields so).
local function enqueue(t, score, fields)
  fields = fields or {}
  for k, v in pairs(fields) do t[k] = v end
  local key = line_key(t)
  count_line(key, redis.call('ZADD', key, score, t.token))
  moved(key, string.format('%.17g', score), 1)
  if blank(t.to_window) then redis.call('SADD', P .. 'groups', t.group) end
  for _, s in ipairs(split(t.services)) do count_waiting(s, 1) end
  fields.status, fields.line, fields.score, fields.window = 'waiting', key, string.format('%.17g', score), ''
  set_fields(t, fields)
end

-- Takes t out of its line; its fields are written by the caller: line = '' with the others
-- it changes (dequeue, or hand_to_window for a call).
local function leave_line(t)
  count_line(t.line, -redis.call('ZREM', t.line, t.token))
  moved(t.line, t.score, -1)
  for _, s in ipairs(split(t.services)) do count_waiting(s, -1) end
end

local function dequeue(t)
  leave_line(t)
  set_fields(t, {line = ''})
end

local function tier_of(tiers, services)
  local worst = -1
  for _, s in ipairs(services) do
    local found = nil
    for i, tier in ipairs(tiers) do
      for _, x in ipairs(tier) do if x == s then found = i - 1 end end
      if found then break end
    end
    if found == nil then return nil end
    if found > worst then worst = found end
  end
  return worst
end

-- The next ticket for a window: the least (rank, tier, score, token) among the heads of
-- its lines. rank 0: transferred (to this window: tier -1; to one of its services), 1:
-- priority, 2: checked-in appointment, 3: ordinary; tier: the window's tier for the ticket's services; score: place
-- in line (issue order). Mirrors server/queue/rules.py:next_for_window.
local function best_for_window(window_id, tiers)
  local best = nil
  local sizes = line_sizes()
  local function consider(key, rank, tier)
    if (sizes[string.sub(key, #P + 1)] or 0) == 0 then return false end
    local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if #head == 0 then return false end
    local score = tonumber(head[2])
    local c = {rank, tier, score, head[1]}
    if best == nil then best = c return true end
    for i = 1, 4 do
      if c[i] < best[i] then best = c return true end
      if c[i] > best[i] then return true end
    end
    return true
  end
  consider(P .. 'wx:' .. window_id, 0, -1)
  for _, g in ipairs(redis.call('SMEMBERS', P .. 'groups')) do
    local tier = tier_of(tiers, split(g))
    local any = false
    for i, c in ipairs(CLASSES) do
      local key = P .. 'q:' .. g .. ':' .. c
      if tier ~= nil then
        if consider(key, i - 1, tier) then any = true end
      elseif (sizes[string.sub(key, #P + 1)] or 0) > 0 then
        any = true
      end
    end
    -- forget lines that have emptied, so the scan stays as short as the live groups
    if not any then redis.call('SREM', P .. 'groups', g) end
  end
  if best == nil then return nil end
  return best[4]
end

-- The lines whose tickets a window able to serve t would call before it, each with a mode: 2 when
-- such a window calls the whole line first (a better class or tier there, or transferred to
-- it), 1 when one holds the line in t's class and tier (its place in line decides). Reads the
-- hall's windows (A.all_windows: [{id, tiers}]) and the live groups: O(lines x windows) in
-- Lua, no Redis command per ticket. Cached per (reserved window, services, class) in a script.
local PLANS = {}
local TIERS = {}

local function tier_cached(w, group)
  local k = w.id .. '|' .. group
  local v = TIERS[k]
  if v == nil then
    v = tier_of(w.tiers, split(group)) or false
    TIERS[k] = v
  end
  return v or nil
end

local function line_plan(t)
  local cache = (t.to_window or '') .. '|' .. t.group .. '|' .. t.class
  if PLANS[cache] then return PLANS[cache] end
  local plan = {}
  local able = {}
  for _, w in ipairs(A.all_windows or {}) do
    if blank(t.to_window) then
      local tier = tier_cached(w, t.group)
      if tier ~= nil then able[#able + 1] = {w = w, tier = tier} end
    elseif w.id == t.to_window then
      plan[1] = {key = P .. 'wx:' .. w.id, mode = 1, group = t.group}
    end
  end
  if blank(t.to_window) then
    local rank = ({x = 1, p = 2, a = 3, o = 4})[t.class]
    for _, a in ipairs(able) do plan[#plan + 1] = {key = P .. 'wx:' .. a.w.id, mode = 2, group = t.group} end
    for _, g in ipairs(redis.call('SMEMBERS', P .. 'groups')) do
      for i, c in ipairs(CLASSES) do
        local mode = 0
        for _, a in ipairs(able) do
          local tier = tier_cached(a.w, g)
          if tier ~= nil then
            if i < rank or (i == rank and tier < a.tier) then mode = 2 break end
            if i == rank and tier == a.tier then mode = 1 end
          end
        end
        if mode > 0 then plan[#plan + 1] = {key = P .. 'q:' .. g .. ':' .. c, mode = mode, group = g} end
      end
    end
  end
  PLANS[cache] = plan
  return plan
end

-- A score as Redis keeps it (17 digits: tostring's 14 would lose a requeued ticket's fraction).
local function fmt(score) return string.format('%.17g', score) end

-- How many tickets of a line come before (score, token): ties go by token, as in ZRANGE.
-- In the ticket's own line (key == t.line) that is its rank, one command; elsewhere, those
-- scored lower and those scored the same with a lesser token.
local function count_before(key, score, token, own_line)
  if key == own_line then
    local rank = redis.call('ZRANK', key, token)
    if rank then return rank end
  end
  local n = redis.call('ZCOUNT', key, '-inf', '(' .. fmt(score))
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, fmt(score), fmt(score))) do
    if m < token then n = n + 1 end
  end
  return n
end

-- People ahead of a waiting ticket: the waiting tickets that some window able to serve it
-- would call first (the hall's merged order). Mirrors rules.people_ahead. Also returns how
-- many of them stand in each group (their services), for the ETA; tickets transferred to a
-- window are counted in t's own group.
local function people_ahead(t)
  if t.status ~= 'waiting' then return 0, {} end
  local own = tonumber(t.score)
  local count = 0
  local by_group = {}
  for _, line in ipairs(line_plan(t)) do
    local n
    n = line_size(line.key)
    if line.mode == 1 and n > 0 then n = count_before(line.key, own, t.token, t.line) end
    if n > 0 then by_group[line.group] = (by_group[line.group] or 0) + n end
    count = count + n
  end
  return count, by_group
end

-- Where a waiting ticket stands, for a phone that follows the moves of the shared events:
-- lines = {line: {mode, count ahead there, group}} (people_ahead's terms: their counts sum
-- to it), zero = the other lines it knows of, where nobody is ahead of it; only = true when
-- no other line can ever count (a ticket transferred to a window). A move in a line it does
-- not know (a group new since) makes the phone read its ticket again.
local function place_of(t)
  if t.status ~= 'waiting' then return NULL end
  local lines = {}
  for _, line in ipairs(line_plan(t)) do
    local n
    n = line_size(line.key)
    if line.mode == 1 and n > 0 then n = count_before(line.key, tonumber(t.score), t.token, t.line) end
    lines[string.sub(line.key, #P + 1)] = {line.mode, n, line.group}
  end
  local zero = {}
  if blank(t.to_window) then
    for _, w in ipairs(A.all_windows or {}) do
      if not lines['wx:' .. w.id] then zero[#zero + 1] = 'wx:' .. w.id end
    end
    for _, g in ipairs(redis.call('SMEMBERS', P .. 'groups')) do
      for _, c in ipairs(CLASSES) do
        local id = 'q:' .. g .. ':' .. c
        if not lines[id] then zero[#zero + 1] = id end
      end
    end
  end
  return {score = t.score, lines = lines, zero = zero, only = not blank(t.to_window)}
end

-- What an ETA needs, read in the same script as the ticket: recent handling seconds per
-- service (newest first) and the windows open for calling.
local function eta_inputs(window_ids, services)
  local recent = {}
  for _, s in ipairs(services) do
    local list = redis.call('LRANGE', P .. 'ht:' .. s, 0, -1)
    local nums = {}
    for i, v in ipairs(list) do nums[i] = tonumber(v) end
    recent[s] = nums
  end
  local open = {}
  local callable = callable_windows(window_ids)
  for _, id in ipairs(window_ids) do
    if callable[id] then open[#open + 1] = id end
  end
  return {recent = recent, open = open}
end

-- Where ticket t (just called, out of every line) goes back to after a no-show: behind the
-- next k tickets that the windows able to serve it would call after its old place, merged
-- across the lines in its class and tier there; behind the last when fewer, its old place
-- when none. Reads at most k + 1 tickets per line. Mirrors rules.requeue_score.
local function requeue_score(t, k)
  local own = tonumber(t.score)
  if k <= 0 then return own end
  local behind = {}
  for _, line in ipairs(line_plan(t)) do
    if line.mode == 1 and line_size(line.key) > 0 then
      local skip = count_before(line.key, own, t.token) - redis.call('ZCOUNT', line.key, '-inf', '(' .. fmt(own))
      local r = redis.call('ZRANGEBYSCORE', line.key, fmt(own), '+inf', 'WITHSCORES', 'LIMIT', skip, k + 1)
      for i = 1, #r, 2 do behind[#behind + 1] = {tonumber(r[i + 1]), r[i]} end
    end
  end
  if #behind == 0 then return own end
  table.sort(behind, function(x, y) return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2]) end)
  if #behind > k then return (behind[k][1] + behind[k + 1][1]) / 2 end
  -- behind the last: a fixed step after it (rules.after_last says why not half way)
  local last = behind[#behind][1]
  return math.min(last + REQUEUE_STEP, (last + math.floor(last) + 1) / 2)
end

-- life-cycle helpers ------------------------------------------------------------

local function release_person(t)
  if blank(t.person) then return end
  local key = P .. 'person:' .. t.person
  for _, s in ipairs(split(t.services)) do
    if redis.call('HGET', key, s) == t.token then redis.call('HDEL', key, s) end
  end
end

local function close_ticket(t, status)
  set_fields(t, {status = status, done_at = tostring(NOW)})
  release_person(t)
  redis.call('SREM', P .. 'open', t.token)
end

-- Marks the window's current ticket done (call_next, call, resume, complete all do this).
-- Returns the finished ticket, or nil when the window had none in hand.
local function finish_current(w)
  if blank(w.token) then return nil end
  local t = load_ticket(w.token)
  if t == nil or (t.status ~= 'called' and t.status ~= 'serving') then
    set_window(w, {token = '', tstate = ''})
    return nil
  end
  close_ticket(t, 'done')
  local handle = math.max(0, math.floor((NOW - tonumber(t.called_at)) / 1000))
  for _, s in ipairs(split(t.services)) do
    redis.call('LPUSH', P .. 'ht:' .. s, handle)
    redis.call('LTRIM', P .. 'ht:' .. s, 0, 19)
  end
  redis.call('HSET', P .. 'lastdone:' .. w.id, 'token', t.token, 'number', t.number, 'at', NOW)
  set_window(w, {token = '', tstate = ''})
  emit_window({type = 'ticket.completed', ticket = public(t),
    stats = stats_facts(t, A.hour, true, {handle_s = handle})}, w)
  return t
end

-- Puts ticket t in the window's hands as called (announced) or serving (resumed). Returns
-- the statistics facts of its first call (its wait, counted under the hour it was issued),
-- for the ticket.called event, or nil. 'extra': more ticket fields, written in the same HSET.
local function hand_to_window(t, w, status, extra)
  local fields = {status = status, window = w.id, clerk = w.clerk, clerk_name = w.clerk_name}
  for k, v in pairs(extra or {}) do fields[k] = v end
  local facts = nil
  if status == 'called' then
    fields.called_at = tostring(NOW)
    if blank(t.first_called_at) then
      fields.first_called_at = tostring(NOW)
      local wait = math.max(0, math.floor((NOW - tonumber(t.issued_at)) / 1000))
      facts = {day = A.day, hour = t.ihour, window = w.id, clerk = w.clerk, wait_s = wait}
    end
  end
  set_fields(t, fields)
  set_window(w, {token = t.token, tstate = (status == 'called') and 'calling' or 'serving'})
  return facts
end

-- Every window action but open/close is done by the clerk who holds the window; the first
-- action of a clerk at a closed window opens it. check_window only looks (a refusal must
-- change nothing); open_window, called once the action's checks have passed, writes.
local function check_window(window_id)
  local w = load_window(window_id)
  if not blank(w.clerk) and w.clerk ~= A.clerk.id and not A.force then
    return nil, fail('window_taken', 'window ' .. window_id .. ' is open for clerk ' .. w.clerk ..
      '; it must be closed before another clerk acts there')
  end
  -- a session opens one window at a time (rules.windows_per_clerk): a clerk's login must not
  -- hold a row of counters that nobody serves
  if blank(w.clerk) and A.max_windows and A.windows_all then
    local held = {}
    for _, id in ipairs(A.windows_all) do
      if id ~= window_id and redis.call('HGET', wkey(id), 'clerk') == A.clerk.id then held[#held + 1] = id end
    end
    if #held >= A.max_windows then
      return nil, fail('holds_another_window', 'clerk ' .. A.clerk.id .. ' already holds window ' .. held[1] ..
        '; close it there before opening another')
    end
  end
  return w, nil
end

local function open_window(w)
  if not blank(w.clerk) then return end
  set_window(w, {clerk = A.clerk.id, clerk_name = A.clerk.name, paused = '', since = tostring(NOW)})
  emit_window({type = 'window.opened', clerk = {id = A.clerk.id, name = A.clerk.name}}, w)
end

local function action_answer(w, t)
  local ticket = NULL
  if t then ticket = public(t, true) end
  return done({window = window_public(w, true), ticket = ticket, seq = current_seq()})
end

-- A double tap on 叫号 must not close the visitor just called: a call (call_next, call)
-- is refused while the window holds a ticket called less than A.min_call_ms ago. Only
-- looks; returns the refusal or nil.
local function check_call_interval(w)
  if blank(w.token) or not A.min_call_ms or A.min_call_ms <= 0 then return nil end
  local t = load_ticket(w.token)
  if t == nil or (t.status ~= 'called' and t.status ~= 'serving') or blank(t.called_at) then return nil end
  local since = NOW - tonumber(t.called_at)
  if since >= A.min_call_ms then return nil end
  local wait = A.min_call_ms - since
  return fail('just_called', t.number .. ' was called ' .. string.format('%.1f', since / 1000) ..
    ' s ago at this window; wait ' .. string.format('%.1f', wait / 1000) .. ' s before the next call',
    {retry_after_ms = wait, number = t.number})
end

-- The open (neither closed nor paused) windows, of A.all_windows ({id, tiers} in the hall
-- file's order), whose tiers cover services; 'except' is left out.
local function open_windows_for(services, except)
  local out = {}
  for _, cand in ipairs(A.all_windows or {}) do
    if cand.id ~= except and tier_of(cand.tiers, services) ~= nil then
      local status = window_status(load_window(cand.id))
      if status ~= 'closed' and status ~= 'paused' then out[#out + 1] = cand.id end
    end
  end
  return out
end

-- When window w closes or pauses, the tickets transferred to it (its wx: line) go back to
-- their services' lines as transferred (class x) tickets with their old scores: still
-- ahead of ordinary tickets, in their original order. One ticket.transferred event each,
-- with reason (window: the window they left). Waiting counts do not change.
local function return_reserved(w, reason)
  local key = P .. 'wx:' .. w.id
  local flat = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for i = 1, #flat, 2 do
    local t = load_ticket(flat[i])
    count_line(key, -redis.call('ZREM', key, flat[i]))
    moved(key, flat[i + 1], -1)
    if t then
      local line = P .. 'q:' .. t.group .. ':x'
      count_line(line, redis.call('ZADD', line, flat[i + 1], t.token))
      moved(line, flat[i + 1], 1)
      redis.call('SADD', P .. 'groups', t.group)
      set_fields(t, {to_window = '', line = line})
      emit_window({type = 'ticket.transferred', ticket = public(t), reason = reason, from_window = w.id,
        to_window = NULL, to_service = NULL}, w)
    end
  end
end

-- the prelude's checks, run before any body -----------------------------------

-- A.rid is the request_id already scoped by the engine to (action, caller): one caller's
-- id never answers another's request, nor another action (server/queue/engine.py).
if A.rid then
  local previous = redis.call('GET', P .. 'req:' .. A.rid)
  if previous then return previous end
end
if A.day then
  local current = redis.call('GET', P .. 'day')
  if not current then
    FIRST_DAY = A.day
  elseif current ~= A.day and not A.rollover then
    -- Days only move forward. A request dated before Redis's day comes from a server whose
    -- clock is a little behind another's (or stepped back): it acts in the day Redis is in,
    -- and never rolls the hall back to yesterday, which would expire today's tickets.
    if A.day < current then
      A.day = current
    else
      return fail('day_changed', 'the business day changed; roll over first', {day = current})
    end
  end
end
