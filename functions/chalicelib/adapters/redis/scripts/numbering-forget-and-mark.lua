-- KEYS: the changed-chats set, the changed-applications set, then pending-body hashes. ARGV[1]:
-- JSON [chat marks, application ids, [numbers to drop from each hash, in KEYS' order]]. One
-- argument, because redis-py spends ~1 µs packing each: a pipeline of an HDEL per chat, or one
-- argument per member, cost the writer more than everything else it sends to Redis.
local chats, applications, forget = unpack(cjson.decode(ARGV[1]))
for _, chat in ipairs(chats) do redis.call('SADD', KEYS[1], chat) end
for _, id in ipairs(applications) do redis.call('SADD', KEYS[2], id) end
for k, numbers in ipairs(forget) do
    for _, n in ipairs(numbers) do redis.call('HDEL', KEYS[k + 2], n) end
end
return 0
