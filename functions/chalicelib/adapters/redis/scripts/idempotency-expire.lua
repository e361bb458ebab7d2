-- KEYS: records hash, index, total, sizes; ARGV: oldest claim time kept, scope. Drops what is past its time.
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for i = 1, #ids do redis.call('HDEL', KEYS[1], ids[i]) end
if #ids > 0 then redis.call('DECRBY', KEYS[3], redis.call('ZREM', KEYS[2], unpack(ids))) end
local n = redis.call('ZCARD', KEYS[2])
if n > 0 then redis.call('ZADD', KEYS[4], n, ARGV[2]) else redis.call('ZREM', KEYS[4], ARGV[2]) end
return #ids
