-- issue: a new ticket for A.services (validated by the engine: known services that some
-- window serves together). Refuses quota_reached, duplicate_ticket, numbers_exhausted, and for
-- a phone before arriving (A.channel == 'remote') remote_quota: the hall's daily remote tickets.
local rquota = P .. 'rquota:' .. A.day
if A.remote_quota and tonumber(redis.call('GET', rquota) or '0') >= A.remote_quota then
  return fail('remote_quota', 'all of today\'s ' .. A.remote_quota .. ' remote tickets are taken; ' ..
    'please take one at the hall', {quota = A.remote_quota})
end
for _, s in ipairs(A.services) do
  local quota = A.quotas[s]
  if quota then
    local used = tonumber(redis.call('GET', P .. 'quota:' .. A.day .. ':' .. s) or '0')
    if used >= quota then
      return fail('quota_reached', 'all of today\'s ' .. quota .. ' tickets for this service are taken',
        {service = s})
    end
  end
end
if A.person then
  for _, s in ipairs(A.services) do
    local other = load_ticket(redis.call('HGET', P .. 'person:' .. A.person, s) or '')
    if other and OPEN[other.status] then
      return fail('duplicate_ticket', 'you already hold ticket ' .. other.number ..
        ' for this service; please keep that ticket', {number = other.number, service = s})
    end
  end
end
local counter = P .. 'ctr:' .. A.day .. ':' .. A.prefix
local n = tonumber(redis.call('GET', counter) or '0') + 1
if n > 999 then
  return fail('numbers_exhausted', 'no more numbers for prefix ' .. A.prefix .. ' today')
end
redis.call('SET', counter, n, 'EX', 3 * 86400)
local number = string.format('%s%03d', A.prefix, n)
local t = {token = A.token}
redis.call('SET', P .. 'num:' .. A.day .. ':' .. number, A.token, 'EX', 3 * 86400)
for _, s in ipairs(A.services) do
  if A.quotas[s] then
    redis.call('INCR', P .. 'quota:' .. A.day .. ':' .. s)
    redis.call('EXPIRE', P .. 'quota:' .. A.day .. ':' .. s, 3 * 86400)
  end
  if A.person then redis.call('HSET', P .. 'person:' .. A.person, s, A.token) end
end
if A.person then redis.call('EXPIRE', P .. 'person:' .. A.person, 3 * 86400) end
if A.channel == 'remote' then
  redis.call('INCR', rquota)
  redis.call('EXPIRE', rquota, 3 * 86400)
end
redis.call('SADD', P .. 'open', A.token)
redis.call('RPUSH', P .. 'day:' .. A.day, A.token)
redis.call('EXPIRE', P .. 'day:' .. A.day, 40 * 86400)
-- the new ticket's fields are written with its place in line, in one HSET
enqueue(t, redis.call('INCR', P .. 'order'), {
  token = A.token, number = number, services = table.concat(A.services, ','), group = A.group,
  class = A.priority and 'p' or 'o', priority = A.priority and '1' or '0', lang = A.lang,
  issued_at = tostring(NOW), ihour = A.hour, day = A.day, person = A.person or '', noshows = '0',
  window = '', clerk = '', called_at = '', done_at = '', to_window = '', transferred = '',
  channel = A.channel or '',
})
redis.call('EXPIRE', tkey(A.token), 40 * 86400)
local seq = emit({type = 'ticket.issued', ticket = public(t), waiting = waiting_counts(),
  stats = stats_facts(t, A.hour, false)})
local ahead, ahead_groups = people_ahead(t)
return done({ticket = public(t, true), ahead = ahead, ahead_groups = ahead_groups, seq = seq,
  eta = eta_inputs(A.windows, split(t.services))})
