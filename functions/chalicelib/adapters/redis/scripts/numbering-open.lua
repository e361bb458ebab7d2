-- KEYS: epoch, closed, seeded, then counters with a floor; ARGV: identity, new epoch id, then
-- the floors in KEYS' order. Opens the epoch on this server unless one is open already.
local e = redis.call('HMGET', KEYS[1], 'id', 'server')
if e[1] and e[2] == ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('UNLINK', KEYS[3])
for i = 4, #KEYS do
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], 'e', ARGV[2], 'f', ARGV[i - 1])
    redis.call('SADD', KEYS[3], KEYS[i])
end
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'server', ARGV[1], 'opened_at', redis.call('TIME')[1],
           'seeded', #KEYS - 3)
redis.call('DEL', KEYS[2])
return 1
