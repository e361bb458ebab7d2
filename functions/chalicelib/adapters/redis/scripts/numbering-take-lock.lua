-- KEYS: the lock; ARGV: token, seconds. Takes the lock unless another holder's time runs. Its end
-- is in its value, not a TTL: under volatile-lru a key with a TTL may be evicted, and two readers
-- of the dead-letter queue could then open an epoch with floors too low.
local now = tonumber(redis.call('TIME')[1])
local held = redis.call('GET', KEYS[1])
if held and tonumber(string.match(held, ' (%d+)$')) > now then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. (now + tonumber(ARGV[2])))
return 1
