-- recall (重呼): announce the window's called ticket again; only after a call.
local w, err = check_window(A.window)
if err then return err end
local t = load_ticket(w.token)
if t == nil or t.status ~= 'called' then
  return fail('nothing_called', 'no called ticket at this window to recall')
end
emit_window({type = 'ticket.recalled', ticket = public(t), clerk = {id = w.clerk, name = w.clerk_name}}, w)
return action_answer(w, t)
