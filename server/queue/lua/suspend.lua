-- suspend (挂起): the visitor leaves to fetch a document; resume brings them back later.
local w, err = check_window(A.window)
if err then return err end
local t = load_ticket(w.token)
if t == nil or (t.status ~= 'called' and t.status ~= 'serving') then
  return fail('nothing_in_hand', 'no ticket in hand at this window to suspend')
end
set_fields(t, {status = 'suspended'})
set_window(w, {token = '', tstate = ''})
emit_window({type = 'ticket.suspended', ticket = public(t)}, w)
return action_answer(w, t)
