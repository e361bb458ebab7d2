-- KEYS: counters; ARGV[1]: seconds. {index, state, highest number} of those idle that long. OBJECT
-- IDLETIME (since the last command that touched the key) is read before the key is: reading resets
-- it. Under an LFU maxmemory-policy Redis keeps no idle time and the script fails.
local idle = {}
for i, key in ipairs(KEYS) do
    local seconds = redis.call('OBJECT', 'IDLETIME', key)
    if seconds and seconds >= tonumber(ARGV[1]) then
        local c = redis.call('HMGET', key, 'e', 'n', 'f')
        if c[1] then
            local highest = math.max(tonumber(c[2] or '0'), tonumber(c[3] or '0'))
            idle[#idle + 1] = {i, c[1] .. ':' .. (c[2] or '') .. ':' .. (c[3] or ''), highest}
        end
    end
end
return idle
