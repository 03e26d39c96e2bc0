/**
 * The Lua scripts of call takeover, one round trip each, on the Redis server's clock like the
 * rest of the cluster's scripts (scripts.ts). A dead node's keys are only known once its id is
 * read, so the claim scripts name them from the prefix: every one shares the `{patchbay}` hash
 * tag, so on a Redis Cluster they are all in the one slot the declared keys are in.
 *
 * Data (P = `{patchbay}:takeover:`):
 *   P alive       sorted set  node id -> expiry of its takeover heartbeat (ms, server time)
 *   P draining    set         nodes that take no calls over (they drain, or have no room)
 *   P owner       hash        SIP Call-ID -> the node that carries the call now
 *   P snap:NODE   hash        SIP Call-ID -> the call's snapshot (JSON, written when it changes)
 *   P pos:NODE    hash        SIP Call-ID -> the call's RTP position (JSON, every interval)
 *   P claimed:NODE hash       SIP Call-ID -> 1: claimed by NODE, no write of its carried it yet
 *                             (a claim's reply may be lost: the beat reports these again)
 *   P ended:ID    string      the node a call ended on (a tombstone, expiring): a node taken for
 *                             dead that writes the call again learns it is lost, not unowned
 *
 * NODE is a process's incarnation (CallSnapshots.owner), never reused after a restart.
 */
import { KEY_PREFIX } from './scripts.js';

const TAKEOVER_PREFIX = `${KEY_PREFIX}takeover:`;

export const takeoverKeys = {
  alive: `${TAKEOVER_PREFIX}alive`,
  draining: `${TAKEOVER_PREFIX}draining`,
  owner: `${TAKEOVER_PREFIX}owner`,
  snapshots: (node: string) => `${TAKEOVER_PREFIX}snap:${node}`,
  positions: (node: string) => `${TAKEOVER_PREFIX}pos:${node}`,
  claimed: (node: string) => `${TAKEOVER_PREFIX}claimed:${node}`,
  ended: (sipCallId: string) => `${TAKEOVER_PREFIX}ended:${sipCallId}`,
};

/** A call's snapshot (false when NODE has none) and RTP position ('' when none) on NODE; needs `prefix`. */
const READ_CALL = `
local function read_call(node, id)
  local snap = redis.call('HGET', prefix .. 'snap:' .. node, id)
  return snap, redis.call('HGET', prefix .. 'pos:' .. node, id) or ''
end
`;

const NOW = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local prefix = '${TAKEOVER_PREFIX}'
${READ_CALL}
local function take(from, id, node, retention)
  local snap, pos = read_call(from, id)
  redis.call('HDEL', prefix .. 'snap:' .. from, id)
  redis.call('HDEL', prefix .. 'pos:' .. from, id)
  redis.call('HDEL', prefix .. 'claimed:' .. from, id)
  if not snap then return nil end
  redis.call('HSET', prefix .. 'owner', id, node)
  redis.call('HSET', prefix .. 'snap:' .. node, id, snap)
  redis.call('HSET', prefix .. 'pos:' .. node, id, pos)
  redis.call('HSET', prefix .. 'claimed:' .. node, id, 1)
  for _, kind in ipairs({'snap:', 'pos:', 'claimed:'}) do
    redis.call('PEXPIRE', prefix .. kind .. node, retention)
  end
  return {id, snap, pos}
end
-- last_beat: Redis time of the last heartbeat or claim from any node. None for longer than
-- dead_after means Redis itself was away (down, failing over, cut off from every node), not one
-- node: every node alive at the last beat gets dead_after from now to beat again, so the first
-- node back does not take the others' calls for dead.
local function excuse_outage(alive, dead_after, retention)
  local last = tonumber(redis.call('GET', prefix .. 'last_beat'))
  if last and now - last > dead_after then
    for _, n in ipairs(redis.call('ZRANGEBYSCORE', alive, last, '+inf')) do
      redis.call('ZADD', alive, now + dead_after, n)
    end
  end
  redis.call('SET', prefix .. 'last_beat', now, 'PX', retention)
end
`;

/**
 * A node's snapshot writes. KEYS: owner, this node's snapshots, positions, claims. ARGV: node,
 * retention ms, count, then (Call-ID, snapshot or '' when unchanged, position, '1' when this node
 * may have been counted dead since it wrote the call) per call. Returns {lost, missing, unowned}:
 * calls another node owns or ended (this node was taken for dead); calls whose snapshot Redis
 * does not have (lost with a restart), to be sent whole next time; and calls marked '1' that no
 * node owns (Redis forgot them): not this node's again, as another node may have taken them over
 * and ended them.
 */
export const WRITE_SNAPSHOTS = `
local prefix = '${TAKEOVER_PREFIX}'
local node, retention, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local lost, missing, unowned = {}, {}, {}
for i = 0, count - 1 do
  local id, snap, pos, taken = ARGV[4 + i * 4], ARGV[5 + i * 4], ARGV[6 + i * 4], ARGV[7 + i * 4]
  local owner = redis.call('HGET', KEYS[1], id)
  if (owner and owner ~= node) or (not owner and redis.call('EXISTS', prefix .. 'ended:' .. id) == 1) then
    lost[#lost + 1] = id
  elseif not owner and taken == '1' then
    unowned[#unowned + 1] = id
  else
    redis.call('HSET', KEYS[1], id, node)
    if snap ~= '' then redis.call('HSET', KEYS[2], id, snap)
    elseif redis.call('HEXISTS', KEYS[2], id) == 0 then missing[#missing + 1] = id end
    redis.call('HSET', KEYS[3], id, pos)
    redis.call('HDEL', KEYS[4], id)
  end
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], retention) end
return {lost, missing, unowned}
`;

/**
 * A call that ended. KEYS: owner, this node's snapshots, positions, claims, the call's tombstone. ARGV:
 * node, Call-ID, tombstone ms (longer than a stalled node can still hold the call: deadAfterMs
 * plus the retention).
 */
export const REMOVE_SNAPSHOT = `
local owner = redis.call('HGET', KEYS[1], ARGV[2])
if not owner or owner == ARGV[1] then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[3])
end
for i = 2, 4 do redis.call('HDEL', KEYS[i], ARGV[2]) end
return 1
`;

/**
 * A node's takeover heartbeat, and its claims. KEYS: alive, draining, owner. ARGV: node,
 * dead-after ms, most calls to claim, taking none (1/0: draining or full), retention ms. Each call of a dead node goes to one live,
 * not draining node chosen by rendezvous hashing (the highest sha1 of Call-ID and node id), so
 * every node agrees on it without talking to the others and the calls spread evenly; the
 * chosen node moves it into its own hashes here, atomically. A dead node with no call left is
 * forgotten. Returns two flat lists of (Call-ID, snapshot, position): the calls claimed now, and
 * those claimed before that no write has carried yet (being resumed, or a claim whose reply was
 * lost: the node resumes or gives back the ones it does not know).
 */
export const TAKEOVER_BEAT = `${NOW}
local node, dead_after, max_claims = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local retention = tonumber(ARGV[5])
excuse_outage(KEYS[1], dead_after, retention)
redis.call('ZADD', KEYS[1], now + dead_after, node)
local unconfirmed = {}
for _, id in ipairs(redis.call('HKEYS', prefix .. 'claimed:' .. node)) do
  local snap, pos = read_call(node, id)
  if snap then
    for _, v in ipairs({id, snap, pos}) do unconfirmed[#unconfirmed + 1] = v end
  else redis.call('HDEL', prefix .. 'claimed:' .. node, id) end
end
if ARGV[4] == '1' then redis.call('SADD', KEYS[2], node) else redis.call('SREM', KEYS[2], node) end
local candidates = {}
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')) do
  if redis.call('SISMEMBER', KEYS[2], n) == 0 then candidates[#candidates + 1] = n end
end
local out = {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)) do
  local snaps = prefix .. 'snap:' .. dead
  for _, id in ipairs(redis.call('HKEYS', snaps)) do
    if #out >= max_claims * 3 then break end
    local best, chosen = nil, nil
    for _, n in ipairs(candidates) do
      local h = redis.sha1hex(id .. '|' .. n)
      if best == nil or h > best then best, chosen = h, n end
    end
    if chosen == node then
      local claimed = take(dead, id, node, retention)
      if claimed then for _, v in ipairs(claimed) do out[#out + 1] = v end end
    end
  end
  if redis.call('HLEN', snaps) == 0 then
    redis.call('ZREM', KEYS[1], dead)
    redis.call('SREM', KEYS[2], dead)
    redis.call('DEL', prefix .. 'pos:' .. dead)
    redis.call('DEL', prefix .. 'claimed:' .. dead)
  end
end
redis.call('PEXPIRE', KEYS[1], retention)
return {out, unconfirmed}
`;

/**
 * One call claimed now, for an in-dialog request that reached this node before the heartbeat
 * claimed it. KEYS: alive, owner. ARGV: node, Call-ID, retention ms, dead-after ms. Returns {'claimed', snapshot,
 * position}, {'mine', snapshot, position} (this node owns it already: a claim repeated after a
 * lost reply; without a snapshot when Redis has none), {'alive', node} (its owner still beats)
 * or {'unknown'}.
 */
export const CLAIM_CALL = `${NOW}
local node, id = ARGV[1], ARGV[2]
excuse_outage(KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[3]))
local owner = redis.call('HGET', KEYS[2], id)
if not owner then return {'unknown'} end
if owner == node then
  local snap, pos = read_call(node, id)
  if not snap then return {'mine'} end
  return {'mine', snap, pos}
end
local expiry = redis.call('ZSCORE', KEYS[1], owner)
if expiry and tonumber(expiry) >= now then return {'alive', owner} end
local claimed = take(owner, id, node, tonumber(ARGV[3]))
if not claimed then return {'unknown'} end
return {'claimed', claimed[2], claimed[3]}
`;

/**
 * Calls this node owns but cannot take now (a lost claim's reply found while draining, overloaded
 * or full), moved to NODE/returned, a node counted dead at once, so the others' heartbeats claim
 * them. KEYS: alive, owner. ARGV: node, retention ms, Call-IDs. Returns how many moved.
 */
export const GIVE_BACK = `${NOW}
local node, retention = ARGV[1], tonumber(ARGV[2])
local back = node .. '/returned'
local moved = 0
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == node and take(node, ARGV[i], back, retention) then
    moved = moved + 1
  end
end
if moved > 0 then redis.call('ZADD', KEYS[1], 0, back) end
return moved
`;
