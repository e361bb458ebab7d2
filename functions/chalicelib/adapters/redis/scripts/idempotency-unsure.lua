-- KEYS: records hash; ARGV: record id. A claim that holds a number whose event may be queued
-- keeps it, and lets a retry in at once (the retry sends the same event again).
local r = redis.call('HGET', KEYS[1], ARGV[1])
if not r then return 0 end
local claim = cjson.decode(r)
if not claim.e then return 0 end
claim.u = nil
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(claim))
return 1
