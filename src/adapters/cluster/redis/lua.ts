/**
 * The Lua the Redis adapters run, one named script per job. Each runs atomically on the server,
 * with the server's clock (TIME), so nodes whose clocks disagree still agree on expiry.
 */

/**
 * LEASE_TAKE: one slot of a capped set of leases, and (when a per-minute budget is given) one
 * token of a bucket refilled evenly over the minute, both or neither.
 *   KEYS[1] sorted set of leases: member = holder, score = expiry (ms)
 *   KEYS[2] token bucket hash {tokens, at}
 *   ARGV[1] member  ARGV[2] max leases  ARGV[3] lease ms  ARGV[4] requests per minute (0 = none)
 * Returns 0 when taken, -1 when every slot is held (ask again after a release), or the ms until a
 * token is due. Expired leases (their holder stopped renewing: a crashed node) are dropped first.
 */
export const LEASE_TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
local rpm = tonumber(ARGV[4])
if rpm > 0 then
  local rate = rpm / 60000
  local b = redis.call('HMGET', KEYS[2], 'tokens', 'at')
  local tokens = tonumber(b[1]) or rpm
  local at = tonumber(b[2]) or now
  tokens = math.min(rpm, tokens + math.max(0, now - at) * rate)
  if tokens < 1 then return math.max(1, math.ceil((1 - tokens) / rate)) end
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'at', tostring(now))
  -- An idle bucket is full again after a minute: dropping it then loses nothing.
  redis.call('PEXPIRE', KEYS[2], 60000)
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return 0
`;

/**
 * LEASE_RENEW: pushes back the expiry of leases this holder still has (its heartbeat). A lease
 * that already expired is not brought back (XX): its slot may have been given to someone else.
 *   KEYS[1] sorted set of leases  ARGV[1] lease ms  ARGV[2..] members
 * Returns the number of members renewed.
 */
export const LEASE_RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
    renewed = renewed + 1
  end
end
if renewed > 0 then redis.call('PEXPIRE', KEYS[1], lease) end
return renewed
`;

/**
 * LEASE_COUNT: the leases held now, expired ones excluded.
 *   KEYS[1] sorted set of leases. Returns the count.
 */
export const LEASE_COUNT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`;
