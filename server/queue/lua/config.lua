-- config: the hall file in use now has content hash A.hash (hallq version A.version).
-- When it differs from the one Redis knows, remember it and emit hall.config once, so every
-- process (their hubs reload the file) and every open page (they reload themselves) learn
-- it; a second process reloading the same file finds the hash known and emits nothing.
-- A.quiet: only remember it (a process starting up; pages check /api/version on reconnect).
local old = redis.call('GET', P .. 'config')
if old == A.hash then return done({changed = false, seq = current_seq()}) end
redis.call('SET', P .. 'config', A.hash)
if A.quiet then return done({changed = false, seq = current_seq()}) end
local seq = emit({type = 'hall.config', hash = A.hash, version = A.version, previous = old or NULL})
return done({changed = true, seq = seq})
