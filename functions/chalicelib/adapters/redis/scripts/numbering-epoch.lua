-- KEYS[1] epoch, KEYS[2] closed marker; ARGV[1] the connection's server identity. Returns the
-- epoch id if it is open on this server; else records when this server first found it closed.
local function open_epoch_id()
    local e = redis.call('HMGET', KEYS[1], 'id', 'server')
    if e[1] and e[2] == ARGV[1] then return e[1] end
    local closed = redis.call('GET', KEYS[2])
    if not closed or string.sub(closed, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then
        redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. redis.call('TIME')[1])
    end
    return false
end
-- A counter not of this epoch: true if the epoch had counted it (then it was lost).
local function lost(counter)
    local seeded = tonumber(redis.call('HGET', KEYS[1], 'seeded') or '0')
    if redis.call('SISMEMBER', KEYS[3], counter) == 1 or redis.call('SCARD', KEYS[3]) ~= seeded then
        redis.call('DEL', KEYS[1])
        -- Requests of this server may hold numbers of the lost counter: wait from now, whatever
        -- the server's age ("lost" tells epoch_state so).
        redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. redis.call('TIME')[1] .. ' lost')
        return true
    end
    return false
end
