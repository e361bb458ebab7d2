-- KEYS: epoch, closed, seeded, then counters; ARGV: identity, JSON [the state each was read in].
-- Deletes each counter still in that state (a reservation since then changed it) and takes it out
-- of the epoch's count, so that its next reservation seeds from MySQL instead of finding it lost.
-- Returns how many it deleted, or -1 (nothing deleted) when no epoch is open on this server.
local epoch = open_epoch_id()
if not epoch then return -1 end
local states = cjson.decode(ARGV[2])
local dropped, counted = 0, 0
for i = 4, #KEYS do
    local c = redis.call('HMGET', KEYS[i], 'e', 'n', 'f')
    if c[1] and c[1] .. ':' .. (c[2] or '') .. ':' .. (c[3] or '') == states[i - 3] then
        redis.call('DEL', KEYS[i])
        dropped = dropped + 1
        -- Only counters of this epoch are members; one of an older epoch is reseeded anyway.
        counted = counted + redis.call('SREM', KEYS[3], KEYS[i])
    end
end
if counted > 0 then redis.call('HINCRBY', KEYS[1], 'seeded', -counted) end
return dropped
