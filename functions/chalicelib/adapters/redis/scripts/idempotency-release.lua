-- KEYS: records hash, index, total, sizes; ARGV: record id, scope. Drops a claim whose request failed.
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DECRBY', KEYS[3], redis.call('ZREM', KEYS[2], ARGV[1]))
local n = redis.call('ZCARD', KEYS[2])
if n > 0 then redis.call('ZADD', KEYS[4], n, ARGV[2]) else redis.call('ZREM', KEYS[4], ARGV[2]) end
return 0
