-- ticket_info (read-only): tickets by token (A.tokens) or one by number (A.number): each
-- with the people ahead of it; plus what an ETA needs.
local found = {}
local tokens = A.tokens or {}
if A.number then
  local token = redis.call('GET', P .. 'num:' .. (redis.call('GET', P .. 'day') or '') .. ':' .. A.number)
  tokens = {token or ''}
end
local services = {}
for _, token in ipairs(tokens) do
  local t = load_ticket(token)
  if t then
    local ahead, ahead_groups = people_ahead(t)
    local item = {ticket = public(t, true), ahead = ahead, ahead_groups = ahead_groups}
    if A.place then item.place = place_of(t) end
    found[#found + 1] = item
    for _, s in ipairs(split(t.services)) do services[s] = true end
  end
end
local list = {}
for s in pairs(services) do list[#list + 1] = s end
table.sort(list)
return done({tickets = found, eta = eta_inputs(A.windows, list), seq = current_seq()})
