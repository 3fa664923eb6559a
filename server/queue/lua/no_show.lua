-- no_show (过号): the called visitor did not come. At least A.min_ms after the call; the
-- ticket goes back behind the next A.places_back tickets that the windows able to serve it
-- would call (the hall's merged order, lib.requeue_score), at most A.max_times times, then
-- closes.
local w, err = check_window(A.window)
if err then return err end
local t = load_ticket(w.token)
if t == nil or t.status ~= 'called' then
  return fail('nothing_called', 'no called ticket at this window to mark as no-show')
end
local since = NOW - tonumber(t.called_at)
if since < A.min_ms then
  return fail('too_early', 'a no-show can be marked ' .. math.floor(A.min_ms / 1000) ..
    ' s after the call; please wait or recall', {retry_after_ms = A.min_ms - since})
end
local count = tonumber(t.noshows or '0') + 1
local facts = stats_facts(t, A.hour, true)
set_window(w, {token = '', tstate = ''})
if count > A.max_times then
  set_fields(t, {noshows = tostring(count)})
  close_ticket(t, 'no_show')
  emit_window({type = 'ticket.no_show', ticket = public(t), stats = facts}, w)
else
  set_fields(t, {noshows = tostring(count), clerk = ''})
  -- A ticket transferred to a window that has paused since (a clerk may pause with a ticket
  -- in hand) would wait where nobody calls: it goes back to its services' lines, as
  -- return_reserved does for the tickets already waiting there.
  if not blank(t.to_window) then
    local status = window_status(load_window(t.to_window))
    if status == 'closed' or status == 'paused' then set_fields(t, {to_window = ''}) end
  end
  local score = requeue_score(t, A.places_back)
  enqueue(t, score)
  emit_window({type = 'ticket.requeued', ticket = public(t), places = A.places_back, no_shows = count}, w)
end
return action_answer(w, t)
