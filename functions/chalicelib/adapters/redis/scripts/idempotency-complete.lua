-- KEYS: records hash, index; ARGV: record id, record. Completes a claim still held.
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
