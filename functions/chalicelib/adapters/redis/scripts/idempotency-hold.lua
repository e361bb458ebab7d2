-- KEYS: records hash, epoch; ARGV: identity, record id, digest, number, accept instant, the epoch
-- it was taken in ("": the one open now). Keeps the number on a claim still running, before its
-- event is sent. Returns the epoch, or false if the claim ended or numbering is not open here in it.
local e = redis.call('HMGET', KEYS[2], 'id', 'server')
if not e[1] or e[2] ~= ARGV[1] or (ARGV[6] ~= '' and e[1] ~= ARGV[6]) then return false end
local r = redis.call('HGET', KEYS[1], ARGV[2])
if not r then return false end
local claim = cjson.decode(r)
if claim.d ~= ARGV[3] or not claim.u or claim.u <= tonumber(redis.call('TIME')[1]) then return false end
claim.n, claim.m, claim.e = tonumber(ARGV[4]), tonumber(ARGV[5]), e[1]
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(claim))
return e[1]
