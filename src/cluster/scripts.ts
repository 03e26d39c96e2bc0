/**
 * The Lua scripts behind every shared decision, one round trip each. All of them read the Redis
 * server's clock (`TIME`), never a node's, so expiry is judged on one clock however far the
 * nodes' clocks drift. Every key shares the `{patchbay}` hash tag: on a Redis Cluster they all
 * land in one slot, which a multi-key script requires.
 *
 * Data (P = `{patchbay}:`):
 *   P nodes            sorted set  node id -> expiry (ms, server time)
 *   P nodeinfo         hash        node id -> JSON {apiUrl, calls, maxCalls, draining}
 *   P lease:all        sorted set  call id -> expiry: every call of every node (gateway-wide)
 *   P lease:trunk:NAME sorted set  call id -> expiry: the trunk's calls
 *   P calls            hash        call id -> JSON {node, call}; its expiry is the call's score in lease:all
 *   P health:GATEWAY   hash        node id -> "expiry|JSON window totals"
 *   P hold:GATEWAY     string      a 503's Retry-After hold on a target: its PTTL is what is left
 *   P cps:KEY          hash        a CPS bucket {tokens, last} (redis-cps-store.ts)
 */

export const KEY_PREFIX = '{patchbay}:';

export const keys = {
  nodes: `${KEY_PREFIX}nodes`,
  nodeInfo: `${KEY_PREFIX}nodeinfo`,
  allLeases: `${KEY_PREFIX}lease:all`,
  calls: `${KEY_PREFIX}calls`,
  trunkLeases: (trunk: string) => `${KEY_PREFIX}lease:trunk:${trunk}`,
  health: (gatewayId: string) => `${KEY_PREFIX}health:${gatewayId}`,
  hold: (gatewayId: string) => `${KEY_PREFIX}hold:${gatewayId}`,
};

/** Server time in ms and the purge of expired calls (at most 100 per run, amortised). */
const PRELUDE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local function purge_calls(all, calls)
  local expired = redis.call('ZRANGEBYSCORE', all, '-inf', now, 'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('ZREM', all, unpack(expired))
    redis.call('HDEL', calls, unpack(expired))
  end
end
`;

/**
 * The node a call's registry entry names (and the entry), or nil when there is none or it is not
 * ours to read (corrupt or foreign): a lookup answers no owner, and a node may write its own over it.
 */
const OWNER = `
local function owner_of(calls, id)
  local entry = redis.call('HGET', calls, id)
  if not entry then return nil end
  local ok, value = pcall(cjson.decode, entry)
  if ok and type(value) == 'table' and type(value.node) == 'string' then return value.node, entry end
  return nil
end
`;

/**
 * KEYS: trunk leases, all leases, calls. ARGV: call id, trunk max, cluster max (0: none), ttl ms,
 * registry entry. Returns {1} when the call holds both leases, {0, 'trunk'|'cluster'} when full.
 */
export const ACQUIRE = `${PRELUDE}
local id, trunk_max, cluster_max, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
purge_calls(KEYS[2], KEYS[3])
if redis.call('ZSCORE', KEYS[1], id) == false and redis.call('ZCARD', KEYS[1]) >= trunk_max then
  return {0, 'trunk'}
end
if cluster_max > 0 and redis.call('ZSCORE', KEYS[2], id) == false
   and redis.call('ZCOUNT', KEYS[2], now, '+inf') >= cluster_max then
  return {0, 'cluster'}
end
redis.call('ZADD', KEYS[1], now + ttl, id)
redis.call('ZADD', KEYS[2], now + ttl, id)
redis.call('HSET', KEYS[3], id, ARGV[5])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl * 2) end
return {1}
`;

/**
 * KEYS: trunk leases, all leases, calls. ARGV: call id, node id. A call another node took over
 * keeps its id: its leases and entry are that node's now, and stay. Returns 1 when released.
 */
export const RELEASE = `${OWNER}
local owner = owner_of(KEYS[3], ARGV[1])
if owner ~= nil and owner ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`;

/**
 * A node's heartbeat: its liveness and info, the renewal (or, after Redis lost them, the
 * re-registration) of every live call's leases and registry entry, and the releases that
 * failed while Redis was away. A call whose entry names another node (it took the call over)
 * is neither renewed nor released: it is returned, for this node to stop renewing it.
 * Returns {count of live nodes, {call ids owned elsewhere}}.
 * KEYS: nodes, nodeinfo, all leases, calls, then one trunk-lease key per live call, then one per
 * release. ARGV: node id, ttl, node info, live count, release count, then (call id, entry) per
 * live call, then a call id per release.
 */
export const HEARTBEAT = `${PRELUDE}${OWNER}
local node, ttl, live, released = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], now + ttl, node)
redis.call('HSET', KEYS[2], node, ARGV[3])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
purge_calls(KEYS[3], KEYS[4])
local function ours(id)
  local owner = owner_of(KEYS[4], id)
  return owner == nil or owner == node
end
local lost = {}
for i = 1, live do
  local id = ARGV[4 + i * 2]
  if ours(id) then
    redis.call('ZADD', KEYS[4 + i], now + ttl, id)
    redis.call('PEXPIRE', KEYS[4 + i], ttl * 2)
    redis.call('ZADD', KEYS[3], now + ttl, id)
    redis.call('HSET', KEYS[4], id, ARGV[5 + i * 2])
  else
    lost[#lost + 1] = id
  end
end
for i = 1, released do
  local id = ARGV[5 + live * 2 + i]
  if ours(id) then
    redis.call('ZREM', KEYS[4 + live + i], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
  end
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl * 2) end
return {redis.call('ZCARD', KEYS[1]), lost}
`;

/** A draining node leaves: KEYS nodes, nodeinfo; ARGV node id. */
export const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

/** KEYS: all leases, calls. ARGV: at most this many. Registry entries of live calls. */
export const LIST_CALLS = `${PRELUDE}
purge_calls(KEYS[1], KEYS[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`;

/**
 * KEYS: all leases, calls, nodes, nodeinfo. ARGV: call id. Returns {entry, node info} of a live
 * call whose node is alive, else an empty reply (so too for an entry that names no node).
 */
export const LOOKUP_CALL = `${PRELUDE}${OWNER}
local expiry = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if expiry == nil or expiry <= now then return {} end
local node, entry = owner_of(KEYS[2], ARGV[1])
if node == nil then return {} end
local alive = tonumber(redis.call('ZSCORE', KEYS[3], node))
if alive == nil or alive <= now then return {} end
return {entry, redis.call('HGET', KEYS[4], node) or ''}
`;

/**
 * A target's Retry-After hold (RFC 3261 §21.5.4), on Redis's clock: its key lives as long as the
 * hold. A longer hold replaces a shorter one, never the reverse; a key no node wrote (no expiry,
 * or beyond the cap) is dropped or cut to the cap. Returns what is left, in ms (0: none).
 */
const HOLD = `
local function hold(key, ms, cap)
  local left = redis.call('PTTL', key)
  if left == -1 then
    redis.call('DEL', key)
    left = 0
  elseif left > cap then
    redis.call('PEXPIRE', key, cap)
    left = cap
  end
  ms = math.floor(math.min(tonumber(ms) or 0, cap))
  if ms > 0 and ms > left then
    redis.call('SET', key, '1', 'PX', ms)
    left = ms
  end
  return math.max(left, 0)
end
`;

/** KEYS: a target's hold. ARGV: hold ms, cap ms. Returns what is left of the hold. */
export const HOLD_TARGET = `${HOLD}
return hold(KEYS[1], ARGV[1], tonumber(ARGV[2]))
`;

/**
 * Trunk health shared by every node. KEYS: one health hash per gateway, then one hold key per
 * gateway. ARGV: node id, ttl, hold cap, then per gateway this node's window totals (JSON) and
 * what is left of its own hold. Stores them and returns, per gateway, {the other nodes' unexpired
 * totals, what is left of the cluster's hold}; expired totals, and fields that are not
 * "expiry|totals", are deleted.
 */
export const SHARE_HEALTH = `${PRELUDE}${HOLD}
local node, ttl, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local gateways = #KEYS / 2
local out = {}
for i = 1, gateways do
  local key = KEYS[i]
  redis.call('HSET', key, node, (now + ttl) .. '|' .. ARGV[2 + i * 2])
  redis.call('PEXPIRE', key, ttl * 2)
  local fields = redis.call('HGETALL', key)
  local peers = {}
  for j = 1, #fields, 2 do
    if fields[j] ~= node then
      local value = fields[j + 1]
      local bar = string.find(value, '|', 1, true)
      local expiry = bar and tonumber(string.sub(value, 1, bar - 1))
      if expiry and expiry > now and expiry < math.huge then
        peers[#peers + 1] = string.sub(value, bar + 1)
      else
        redis.call('HDEL', key, fields[j])
      end
    end
  end
  out[i] = {peers, hold(KEYS[gateways + i], ARGV[3 + i * 2], cap)}
end
return out
`;
