-- KEYS: epoch, closed; ARGV: identity. {1, seconds open} or {0, seconds since found closed}.
local now = tonumber(redis.call('TIME')[1])
if open_epoch_id() then return {1, now - tonumber(redis.call('HGET', KEYS[1], 'opened_at'))} end
local closed = redis.call('GET', KEYS[2])
local since = tonumber(string.match(string.sub(closed, #ARGV[1] + 2), '^(%d+)'))
return {0, now - since, string.find(closed, ' lost$') and 1 or 0}
