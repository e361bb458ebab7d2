-- KEYS: records hash, index, epoch, total, sizes; ARGV: identity, record id, digest, in-flight seconds,
-- record seconds, most records, safe age, most records of all scopes, scope, records' prefix, index's suffix.
-- Returns {1, record} if found; {2, seconds} if over budget;
-- {3, record, 1 if its epoch is open here else 0} if its create took a number and may have queued
-- it (claimed again); else claims it and returns {0, loss}: 0 none, 1 possible, 2 numbering not open on this server.
local now = tonumber(redis.call('TIME')[1])
local ttl, most, safe = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local function sized(index, scope)
    local n = redis.call('ZCARD', index)
    if n > 0 then redis.call('ZADD', KEYS[5], n, scope) else redis.call('ZREM', KEYS[5], scope) end
end
local function drop(records, index, scope, ids)
    for i = 1, #ids do redis.call('HDEL', records, ids[i]) end
    if #ids > 0 then
        redis.call('DECRBY', KEYS[4], redis.call('ZREM', index, unpack(ids)))
        sized(index, scope)
    end
end
-- Makes room in a scope: drops its `n` oldest records if the newest of them is `safe` old; else
-- returns how long until it is (nil: the scope has no records).
local function trim(records, index, scope, n)
    local oldest = redis.call('ZRANGE', index, 0, n - 1, 'WITHSCORES')
    if #oldest == 0 then return nil end
    local age = now - tonumber(oldest[#oldest])
    if age < safe then return safe - age end
    local ids = {}
    for i = 1, #oldest, 2 do ids[#ids + 1] = oldest[i] end
    drop(records, index, scope, ids)
    redis.call('HSET', records, '.trimmed', now + ttl)
    return 0
end
drop(KEYS[1], KEYS[2], ARGV[9], redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl, 'LIMIT', 0, 20))
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
local fresh = not redis.call('ZSCORE', KEYS[2], ARGV[2])
if over > 0 then
    local wait = trim(KEYS[1], KEYS[2], ARGV[9], over)
    if wait == nil then return {2, safe} end
    if wait > 0 then return {2, wait} end
elseif fresh and tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(ARGV[8]) then
    -- Past the total of all scopes, the scope holding most records makes room (its oldest, once
    -- old enough), else this one: a scope that fills the total takes no room from the others.
    -- The other scope's keys are named here from its name (standalone Redis, not a cluster).
    local wait = nil
    local top = redis.call('ZREVRANGE', KEYS[5], 0, 0)
    if #top > 0 and top[1] ~= ARGV[9] then
        wait = trim(ARGV[10] .. top[1], ARGV[10] .. top[1] .. ARGV[11], top[1], 1)
        if wait == nil then redis.call('ZREM', KEYS[5], top[1]) end
    end
    if wait == nil or wait > 0 then
        local own = trim(KEYS[1], KEYS[2], ARGV[9], 1)
        if own == nil or own > 0 then return {2, math.min(wait or safe, own or safe)} end
    end
end
local trimmed = tonumber(redis.call('HGET', KEYS[1], '.trimmed') or '0')
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode({d = ARGV[3], u = now + tonumber(ARGV[4])}))
if redis.call('ZADD', KEYS[2], now, ARGV[2]) == 1 then redis.call('INCR', KEYS[4]) end
sized(KEYS[2], ARGV[9])
local e = redis.call('HMGET', KEYS[3], 'server', 'opened_at')
if e[1] ~= ARGV[1] then return {0, 2} end
if trimmed > now or now - tonumber(e[2]) < ttl then return {0, 1} end
return {0, 0}
