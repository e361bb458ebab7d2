-- KEYS: epoch, closed, seeded, counter[, pending hash]; ARGV: identity, the epoch a seed was
-- read in (or ""), the seed, [body, ttl]. Returns {number}, {-1} when no epoch is open here,
-- {-2, epoch} when the counter needs a seed from MySQL read in that epoch.
local epoch = open_epoch_id()
if not epoch then return {-1} end
local c = redis.call('HMGET', KEYS[4], 'e', 'n', 'f')
local n
if c[1] == epoch and c[2] then
    n = redis.call('HINCRBY', KEYS[4], 'n', 1)
else
    if c[1] ~= epoch and lost(KEYS[4]) then return {-1} end
    if ARGV[2] ~= epoch then return {-2, epoch} end
    local floor = 0
    if c[1] == epoch then floor = tonumber(c[3] or '0') else
        redis.call('DEL', KEYS[4])
        redis.call('SADD', KEYS[3], KEYS[4])
        redis.call('HINCRBY', KEYS[1], 'seeded', 1)
    end
    n = math.max(tonumber(ARGV[3]), floor) + 1
    redis.call('HSET', KEYS[4], 'e', epoch, 'n', n)
end
if KEYS[5] then
    redis.call('HSET', KEYS[5], n, ARGV[4])
    redis.call('EXPIRE', KEYS[5], ARGV[5])
end
return {n}
