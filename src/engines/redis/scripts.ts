/**
 * Lua scripts of the Redis engine. Each one touches only keys of one channel (they share the
 * `{channel}` hash tag), so they run on one Cluster slot. ioredis runs them with EVALSHA and falls
 * back to EVAL when the script cache was flushed.
 *
 * Stream meta hash fields: `e` epoch, `s` top offset, `v` last version, `ve` its version epoch.
 * History entries: stream entries with explicit id `<offset>-0` and one field `d` (the body), or
 * list items `<offset>:<body>` pushed on the left (newest first) when lists are used.
 */

/**
 * KEYS: 1 stream, 2 meta, 3 idempotency result.
 * ARGV: 1 PUB/SUB channel, 2 body, 3 history size, 4 history ttl ms, 5 meta ttl ms,
 * 6 epoch to use when the meta is new, 7 use lists (1/0), 8 idempotent result ttl ms (0 = no key),
 * 9 version (0 = none), 10 version epoch, 11 use delta (1/0), 12 publish (1/0).
 * Returns {offset, epoch, suppressed(0/1)}.
 */
export const PUBLISH_LUA = `
local idem_ttl = tonumber(ARGV[8])
if idem_ttl > 0 then
  local prev = redis.call('get', KEYS[3])
  if prev then
    local sep = string.find(prev, ':', 1, true)
    return {tonumber(string.sub(prev, 1, sep - 1)), string.sub(prev, sep + 1), 1}
  end
end
local size = tonumber(ARGV[3])
local offset = 0
local epoch = ''
local prev_off = 0
local prev = ''
local delta = ARGV[11] == '1'
if size > 0 then
  local meta_ttl = tonumber(ARGV[5])
  local m = redis.call('hmget', KEYS[2], 'e', 's', 'v', 've')
  epoch = m[1]
  local top = tonumber(m[2] or '0')
  if not epoch then
    epoch = ARGV[6]
    top = 0
    redis.call('del', KEYS[1])
  end
  local version = tonumber(ARGV[9])
  if version > 0 and (m[4] or '') == ARGV[10] and version <= tonumber(m[3] or '0') then
    if meta_ttl > 0 then redis.call('pexpire', KEYS[2], meta_ttl) end
    return {top, epoch, 1}
  end
  local lists = ARGV[7] == '1'
  if delta then
    if lists then
      local last = redis.call('lindex', KEYS[1], 0)
      if last then
        local sep = string.find(last, ':', 1, true)
        prev_off = string.sub(last, 1, sep - 1)
        prev = string.sub(last, sep + 1)
      end
    else
      local last = redis.call('xrevrange', KEYS[1], '+', '-', 'COUNT', 1)
      if last[1] then
        local id = last[1][1]
        prev_off = string.sub(id, 1, string.find(id, '-', 1, true) - 1)
        prev = last[1][2][2]
      end
    end
  end
  offset = top + 1
  if version > 0 then
    redis.call('hset', KEYS[2], 'e', epoch, 's', offset, 'v', ARGV[9], 've', ARGV[10])
  else
    redis.call('hset', KEYS[2], 'e', epoch, 's', offset)
  end
  if lists then
    redis.call('lpush', KEYS[1], offset .. ':' .. ARGV[2])
    redis.call('ltrim', KEYS[1], 0, size - 1)
  else
    redis.call('xadd', KEYS[1], 'MAXLEN', size, offset .. '-0', 'd', ARGV[2])
  end
  redis.call('pexpire', KEYS[1], ARGV[4])
  if meta_ttl > 0 then redis.call('pexpire', KEYS[2], meta_ttl) end
else
  delta = false
end
if idem_ttl > 0 then
  redis.call('set', KEYS[3], offset .. ':' .. epoch, 'PX', idem_ttl)
end
if ARGV[12] == '1' then
  local kind = 'p'
  if delta then kind = 'd' end
  redis.call('publish', ARGV[1], kind .. offset .. '\\n' .. epoch .. '\\n' .. prev_off .. '\\n' .. #prev .. '\\n' .. prev .. ARGV[2])
end
return {offset, epoch, 0}
`;

/**
 * KEYS: 1 stream, 2 meta.
 * ARGV: 1 epoch to use when the meta is new, 2 meta ttl ms (0 = leave), 3 use lists (1/0),
 * 4 direction (f/r/n: forward, reverse, none), 5 start id (stream range bound), 6 count (-1 = all).
 * Returns {epoch, top, entries}: stream entries as XRANGE gives them, or list items newest first.
 */
export const HISTORY_LUA = `
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('hset', KEYS[2], 'e', epoch, 's', 0)
  redis.call('del', KEYS[1])
end
local meta_ttl = tonumber(ARGV[2])
if meta_ttl > 0 then redis.call('pexpire', KEYS[2], meta_ttl) end
local top = tonumber(redis.call('hget', KEYS[2], 's') or '0')
local entries = {}
local dir = ARGV[4]
local count = tonumber(ARGV[6])
if dir ~= 'n' then
  if ARGV[3] == '1' then
    entries = redis.call('lrange', KEYS[1], 0, -1)
  elseif dir == 'f' then
    if count >= 0 then
      entries = redis.call('xrange', KEYS[1], ARGV[5], '+', 'COUNT', count)
    else
      entries = redis.call('xrange', KEYS[1], ARGV[5], '+')
    end
  else
    if count >= 0 then
      entries = redis.call('xrevrange', KEYS[1], ARGV[5], '-', 'COUNT', count)
    else
      entries = redis.call('xrevrange', KEYS[1], ARGV[5], '-')
    end
  end
end
return {epoch, top, entries}
`;

/**
 * KEYS: 1 data hash (client id → user-prefixed info), 2 expiry zset (client id → expire-at ms).
 * ARGV: 1 client id, 2 value, 3 ttl ms. Uses the server clock so nodes with skewed clocks agree.
 */
export const PRESENCE_ADD_LUA = `
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('zadd', KEYS[2], now + ttl, ARGV[1])
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('pexpire', KEYS[1], ttl)
redis.call('pexpire', KEYS[2], ttl)
return 1
`;

/** Lua prelude removing expired entries (the zset is the expiry index of the hash). */
const CLEAN = `
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('zrangebyscore', KEYS[2], '-inf', now)
if #expired > 0 then
  for i = 1, #expired, 1000 do
    redis.call('hdel', KEYS[1], unpack(expired, i, math.min(i + 999, #expired)))
  end
  redis.call('zremrangebyscore', KEYS[2], '-inf', now)
end
`;

/** KEYS: 1 data hash, 2 expiry zset. Returns HGETALL of the live entries. */
export const PRESENCE_GET_LUA = `${CLEAN}
return redis.call('hgetall', KEYS[1])
`;

/**
 * KEYS: 1 data hash, 2 expiry zset. Returns {clients, users}: users are counted distinct from the
 * `<len>:<user>` prefix of each value.
 */
export const PRESENCE_STATS_LUA = `${CLEAN}
local vals = redis.call('hvals', KEYS[1])
local seen = {}
local users = 0
for _, v in ipairs(vals) do
  local sep = string.find(v, ':', 1, true)
  local len = tonumber(string.sub(v, 1, sep - 1))
  local user = string.sub(v, sep + 1, sep + len)
  if not seen[user] then
    seen[user] = true
    users = users + 1
  end
end
return {#vals, users}
`;

/** KEYS: 1 data hash, 2 expiry zset. ARGV: 1 client id. */
export const PRESENCE_REMOVE_LUA = `
redis.call('hdel', KEYS[1], ARGV[1])
redis.call('zrem', KEYS[2], ARGV[1])
return 1
`;
