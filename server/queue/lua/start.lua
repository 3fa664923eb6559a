-- start (开始): the called visitor has arrived; serving begins.
local w, err = check_window(A.window)
if err then return err end
local t = load_ticket(w.token)
if t == nil or t.status ~= 'called' then
  return fail('nothing_called', 'no called ticket at this window to start')
end
set_fields(t, {status = 'serving'})
set_window(w, {tstate = 'serving'})
emit_window({type = 'ticket.started', ticket = public(t)}, w)
return action_answer(w, t)
