-- complete (办结): the window's ticket is done; the window becomes idle.
local w, err = check_window(A.window)
if err then return err end
local t = load_ticket(w.token)
if t == nil or (t.status ~= 'called' and t.status ~= 'serving') then
  return fail('nothing_in_hand', 'no ticket in hand at this window to complete')
end
local finished = finish_current(w)
return action_answer(w, load_ticket(finished.token))
