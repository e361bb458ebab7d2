-- KEYS: records hash, index, epoch, total; ARGV: identity, record id, digest, in-flight seconds,
-- record seconds, most records, safe age, most records of all scopes. Returns {1, record} if found; {2, seconds} if over budget;
-- {3, record, 1 if its epoch is open here else 0} if its create took a number and may have queued
-- it (claimed again); else claims it and returns {0, loss}: 0 none, 1 possible, 2 numbering not open on this server.
local now = tonumber(redis.call('TIME')[1])
local ttl, most, safe = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local function drop(ids)
    for i = 1, #ids do redis.call('HDEL', KEYS[1], ids[i]) end
    if #ids > 0 then redis.call('DECRBY', KEYS[4], redis.call('ZREM', KEYS[2], unpack(ids))) end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl, 'LIMIT', 0, 20))
local r = redis.call('HGET', KEYS[1], ARGV[2])
if r then
    local found = cjson.decode(r)
    local running = found.u and found.u > now
    if found.e and not running then
        if found.d ~= ARGV[3] then return {1, r} end
        found.u = now + tonumber(ARGV[4])
        redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(found))
        local e = redis.call('HMGET', KEYS[3], 'id', 'server')
        return {3, r, (e[1] == found.e and e[2] == ARGV[1]) and 1 or 0}
    end
    if not found.u or running then return {1, r} end
end
local over = redis.call('ZCARD', KEYS[2]) - most + 1
-- Past the total of all scopes, a new record makes room in its own scope as over its budget.
local fresh = not redis.call('ZSCORE', KEYS[2], ARGV[2])
if over < 1 and fresh and tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(ARGV[8]) then over = 1 end
local trimmed = tonumber(redis.call('HGET', KEYS[1], '.trimmed') or '0')
if over > 0 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1, 'WITHSCORES')
    if #oldest == 0 then return {2, safe} end
    local age = now - tonumber(oldest[#oldest])
    if age < safe then return {2, safe - age} end
    local ids = {}
    for i = 1, #oldest, 2 do ids[#ids + 1] = oldest[i] end
    drop(ids)
    trimmed = now + ttl
    redis.call('HSET', KEYS[1], '.trimmed', trimmed)
end
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode({d = ARGV[3], u = now + tonumber(ARGV[4])}))
if redis.call('ZADD', KEYS[2], now, ARGV[2]) == 1 then redis.call('INCR', KEYS[4]) end
local e = redis.call('HMGET', KEYS[3], 'server', 'opened_at')
if e[1] ~= ARGV[1] then return {0, 2} end
if trimmed > now or now - tonumber(e[2]) < ttl then return {0, 1} end
return {0, 0}
