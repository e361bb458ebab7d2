-- KEYS: records hash, index, total; ARGV: record id. Drops a claim whose request failed.
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DECRBY', KEYS[3], redis.call('ZREM', KEYS[2], ARGV[1]))
return 0
