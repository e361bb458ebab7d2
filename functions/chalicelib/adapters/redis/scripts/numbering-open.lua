-- KEYS: epoch, closed, seeded, dead-lettered creates, then counters with a floor; ARGV: identity,
-- new epoch id, the dead-lettered creates (JSON [field, number, ...]), then the floors in KEYS'
-- order. Opens the epoch on this server unless one is open already.
local e = redis.call('HMGET', KEYS[1], 'id', 'server')
if e[1] and e[2] == ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('UNLINK', KEYS[3], KEYS[4])
local dead = cjson.decode(ARGV[3])
for i = 1, #dead, 2 do redis.call('HSET', KEYS[4], dead[i], dead[i + 1]) end
for i = 5, #KEYS do
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], 'e', ARGV[2], 'f', ARGV[i - 1])
    redis.call('SADD', KEYS[3], KEYS[i])
end
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'server', ARGV[1], 'opened_at', redis.call('TIME')[1],
           'seeded', #KEYS - 4)
redis.call('DEL', KEYS[2])
return 1
