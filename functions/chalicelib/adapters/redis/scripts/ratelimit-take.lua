-- KEYS: none (the key is built from the clock). ARGV: key prefix, quota, window seconds.
-- Returns {requests in this window including this one, seconds until the window ends}.
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[3])
local key = ARGV[1] .. ':' .. math.floor(now / window)
local used = redis.call('INCR', key)
if used == 1 then redis.call('EXPIRE', key, window + 1) end
return {used, window - now % window}
