-- config: the hall file in use now has content hash A.hash (hallq version A.version).
-- When it differs from the one Redis knows, remember it and emit hall.config once, so every
-- process (their hubs reload the file) and every open page (they reload themselves) learn
-- it; a second process reloading the same file finds the hash known and emits nothing.
-- A.quiet (a process starting up): only remember a first hash. A process that starts with
-- another file than the one known (edited while the others ran, or while the server was
-- down) says so like a reload: otherwise the processes already running would keep the old
-- file and their screens would never hear of the new one.
local old = redis.call('GET', P .. 'config')
if old == A.hash then return done({changed = false, seq = current_seq()}) end
redis.call('SET', P .. 'config', A.hash)
if A.quiet and not old then return done({changed = false, seq = current_seq()}) end
local seq = emit({type = 'hall.config', hash = A.hash, version = A.version, previous = old or NULL})
return done({changed = true, seq = seq})
