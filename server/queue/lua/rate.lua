-- rate (好差评): one rating A.score (1..5) per visit, once it is done. By token (the
-- visitor's phone) or at a window's rating pad (A.window + A.number: only the ticket just
-- completed there, within A.timeout_ms). Nothing about the rater is stored.
-- A bad rating (score <= BAD_MAX, server/queue/constants.json) opens its follow-up case here, in the
-- same script: exactly one case per bad rating, never one for a refused rating.
-- Its deadline is not stored: server/cases.py works it out from rated_at, follow_up_days (the
-- rule in force now) and the calendar as it is when the case is read.
local t
if A.window then
  local last = redis.call('HMGET', P .. 'lastdone:' .. A.window, 'token', 'number', 'at')
  if last[2] ~= A.number or NOW - tonumber(last[3] or '0') > A.timeout_ms then
    return fail('not_rateable', 'only the visit just completed at this window can be rated here')
  end
  t = load_ticket(last[1])
else
  t = load_ticket(A.token)
end
if t == nil then return fail('unknown_ticket', 'no such ticket') end
if t.status ~= 'done' then return fail('not_done', 'a visit can be rated once it is done') end
if not blank(t.rating) then return fail('already_rated', 'this visit has already been rated') end
set_fields(t, {rating = tostring(A.score), rating_reasons = table.concat(A.reasons, ',')})
local entry = {at = NOW, ticket = t.number, window = t.window, clerk = t.clerk,
  services = split(t.services), score = A.score, reasons = table.concat(A.reasons, ',')}
redis.call('RPUSH', P .. 'ratings:' .. A.day, cjson.encode(entry))
redis.call('EXPIRE', P .. 'ratings:' .. A.day, 460 * 86400)
local bad = A.score <= BAD_MAX
if bad then
  local id = redis.call('INCR', P .. 'case_seq')
  local case = {id = id, ticket = t.number, token = t.token, window = t.window or '', clerk = t.clerk or '',
    services = t.services or '', score = A.score, reasons = table.concat(A.reasons, ','),
    rated_at = NOW, day = A.day, follow_up_days = A.case_days, owner = '', status = 'open',
    named = not blank(t.person), called_back = false, lang = t.lang or '',
    history = {{at = NOW, action = 'opened', staff = ''}}}
  redis.call('SET', P .. 'case:' .. id, cjson.encode(case))
  redis.call('ZADD', P .. 'cases', NOW, id)
  set_fields(t, {case = tostring(id)})
end
local seq = emit({type = 'ticket.rated', ticket = public(t), window = t.window, score = A.score,
  clerk = {id = t.clerk or '', name = t.clerk_name or ''},
  bad = bad, reasons = table.concat(A.reasons, ','), stats = stats_facts(t, A.hour, true)})
return done({ticket = public(t), seq = seq})
