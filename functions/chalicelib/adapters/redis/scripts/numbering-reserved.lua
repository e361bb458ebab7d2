-- KEYS: epoch, closed, seeded, counter; ARGV: identity. The highest number handed out in this
-- epoch, -1 when no epoch is open here, -2 when the epoch has not counted it (MySQL knows all).
local epoch = open_epoch_id()
if not epoch then return -1 end
local c = redis.call('HMGET', KEYS[4], 'e', 'n', 'f')
if c[1] ~= epoch then
    if lost(KEYS[4]) then return -1 end
    return -2
end
return math.max(tonumber(c[2] or '0'), tonumber(c[3] or '0'))
