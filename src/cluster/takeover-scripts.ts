/**
 * The Lua scripts of call takeover, one round trip each, on the Redis server's clock like the
 * rest of the cluster's scripts (scripts.ts). A dead node's keys are only known once its id is
 * read, so the claim scripts name them from the prefix: every one shares the `{patchbay}` hash
 * tag, so on a Redis Cluster they are all in the one slot the declared keys are in.
 *
 * Data (P = `{patchbay}:takeover:`):
 *   P alive       sorted set  node id -> expiry of its takeover heartbeat (ms, server time)
 *   P draining    set         nodes that take no calls over (they drain, or have no room)
 *   P owner       hash        SIP Call-ID -> 'GEN|NODE': the node that carries the call now, and
 *                             the call's generation there (1 where it was answered, one more at
 *                             each claim); a write of a lower generation than stored is refused
 *   P snap:NODE   hash        SIP Call-ID -> the call's snapshot (JSON, written when it changes)
 *   P pos:NODE    hash        SIP Call-ID -> the call's RTP position (JSON, every interval)
 *   P claimed:NODE hash       SIP Call-ID -> 1: claimed by NODE, no write of its carried it yet
 *                             (a claim's reply may be lost: the beat reports these again)
 *   P ended:ID    string      'GEN|NODE' a call ended on (a tombstone, expiring): a node taken for
 *                             dead that writes the call again learns it is lost, not unowned
 *   P epoch       string      a random id set by the first write to find it missing: one that
 *                             changed since a node's last write tells it Redis lost its data
 *                             (restarted empty), so nobody's claims since are known
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
  epoch: `${TAKEOVER_PREFIX}epoch`,
};

/** A call's snapshot (false when NODE has none) and RTP position ('' when none) on NODE; needs `prefix`. */
const READ_CALL = `
local function read_call(node, id)
  local snap = redis.call('HGET', prefix .. 'snap:' .. node, id)
  return snap, redis.call('HGET', prefix .. 'pos:' .. node, id) or ''
end
`;

/**
 * A call's owner entry (or tombstone) read as its node and generation. A value without a
 * generation (written by an earlier version) names its node at an unknown one, which no other
 * node's write overrides.
 */
const OWNER = `
local prefix = '${TAKEOVER_PREFIX}'
local function holder_of(value)
  if not value then return nil end
  local gen, node = string.match(value, '^(%d+)|(.*)$')
  if not gen then return value, nil end
  return node, tonumber(gen)
end
local function owner_of(id)
  return holder_of(redis.call('HGET', prefix .. 'owner', id))
end
local function entry_of(node, gen)
  return string.format('%d|%s', gen, node)
end
local function own(id, node, gen)
  redis.call('HSET', prefix .. 'owner', id, entry_of(node, gen))
end
-- Whether a write of generation gen by node yields to what holder, at held, has of the call.
local function yields(node, gen, holder, held)
  return holder ~= nil and holder ~= node and (held == nil or held >= gen)
end
`;

/** Redis server time in ms. */
const CLOCK = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
`;

const NOW = `${OWNER}${READ_CALL}${CLOCK}
-- Moves a call from node from to node, one generation up; nil when from has no snapshot of it
-- or another node owns it now (from's copy is stale: it lost the call to a higher generation).
local function take(from, id, node, retention)
  local snap, pos = read_call(from, id)
  redis.call('HDEL', prefix .. 'snap:' .. from, id)
  redis.call('HDEL', prefix .. 'pos:' .. from, id)
  redis.call('HDEL', prefix .. 'claimed:' .. from, id)
  if not snap then return nil end
  local holder, held = owner_of(id)
  if holder and holder ~= from then return nil end
  local gen = (held or 1) + 1
  own(id, node, gen)
  redis.call('HSET', prefix .. 'snap:' .. node, id, snap)
  redis.call('HSET', prefix .. 'pos:' .. node, id, pos)
  redis.call('HSET', prefix .. 'claimed:' .. node, id, 1)
  for _, kind in ipairs({'snap:', 'pos:', 'claimed:'}) do
    redis.call('PEXPIRE', prefix .. kind .. node, retention)
  end
  return {id, snap, pos, tostring(gen)}
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
 * A node's snapshot writes. KEYS: owner, this node's snapshots, positions, claims, epoch, alive.
 * ARGV: node, retention ms, dead-after ms, the epoch this node last saw ('' for none), a fresh one
 * to set if Redis has none, count, then (Call-ID, snapshot or '' when unchanged, position, the
 * generation this node carries the call at, '1' when this node may have been counted dead since
 * it wrote the call) per call.
 *
 * A node missing from the live set (Redis restarted empty, or the node just started) enters it
 * for dead-after from now: one that dies before its first beat is counted dead like any other,
 * rather than never, and its calls are claimed.
 *
 * A write of a call yields to another node's entry of the same or a higher generation, and to a
 * tombstone of one; it replaces another node's entry of a lower generation (that node lost the
 * call: it learns so at its next write). Returns {lost, missing, unowned, epoch, forgot}: calls
 * this node lost (taken over, or ended elsewhere); calls whose snapshot Redis does not have (lost
 * with a restart), to be sent whole next time; calls marked '1' that no node owns while Redis
 * kept its data, which are not this node's again (another node may have taken them over and
 * ended them, and the tombstone expired); the epoch now; and 1 when it is not the one the node
 * saw last (Redis lost its data: nobody's claims since are known, so every node writes its calls
 * again, marked or not, and the higher generation wins).
 */
export const WRITE_SNAPSHOTS = `${OWNER}${CLOCK}
local node, retention, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[6])
if redis.call('ZADD', KEYS[6], 'NX', now + tonumber(ARGV[3]), node) == 1 then
  redis.call('PEXPIRE', KEYS[6], retention)
end
local epoch = redis.call('GET', KEYS[5])
if not epoch then
  epoch = ARGV[5]
  redis.call('SET', KEYS[5], epoch)
end
local forgot = ARGV[4] ~= '' and ARGV[4] ~= epoch
local lost, missing, unowned = {}, {}, {}
for i = 0, count - 1 do
  local at = 7 + i * 5
  local id, snap, pos, gen, taken = ARGV[at], ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3]), ARGV[at + 4]
  local holder, held = owner_of(id)
  local ender, ended = holder_of(redis.call('GET', prefix .. 'ended:' .. id))
  if yields(node, gen, holder, held) or (not holder and ender and (ended == nil or ended >= gen)) then
    lost[#lost + 1] = id
  elseif not holder and taken == '1' and not forgot then
    unowned[#unowned + 1] = id
  else
    if holder and holder ~= node then
      for _, kind in ipairs({'snap:', 'pos:', 'claimed:'}) do redis.call('HDEL', prefix .. kind .. holder, id) end
    end
    own(id, node, math.max(gen, held or 0))
    if snap ~= '' then redis.call('HSET', KEYS[2], id, snap)
    elseif redis.call('HEXISTS', KEYS[2], id) == 0 then missing[#missing + 1] = id end
    redis.call('HSET', KEYS[3], id, pos)
    redis.call('HDEL', KEYS[4], id)
  end
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], retention) end
return {lost, missing, unowned, epoch, forgot and 1 or 0}
`;

/**
 * A call that ended. KEYS: owner, this node's snapshots, positions, claims, the call's tombstone.
 * ARGV: node, Call-ID, tombstone ms (longer than a stalled node can still hold the call:
 * deadAfterMs plus the retention), the generation the node carried it at.
 */
export const REMOVE_SNAPSHOT = `${OWNER}
local holder, held = owner_of(ARGV[2])
if not holder or holder == ARGV[1] then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[5], entry_of(ARGV[1], math.max(tonumber(ARGV[4]), held or 0)), 'PX', ARGV[3])
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
 * forgotten. Returns two flat lists of (Call-ID, snapshot, position, generation): the calls
 * claimed now (each one generation up from its dead owner's), and
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
  local holder, held = owner_of(id)
  if snap and holder == node then
    for _, v in ipairs({id, snap, pos, tostring(held or 1)}) do unconfirmed[#unconfirmed + 1] = v end
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
    if #out >= max_claims * 4 then break end
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
 * claimed it. KEYS: alive, owner. ARGV: node, Call-ID, retention ms, dead-after ms. Returns
 * {'claimed', snapshot, position, generation}, {'mine', snapshot, position, generation} (this
 * node owns it already: a claim repeated after a lost reply; without a snapshot when Redis has
 * none), {'alive', node} (its owner still beats) or {'unknown'}.
 */
export const CLAIM_CALL = `${NOW}
local node, id = ARGV[1], ARGV[2]
excuse_outage(KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[3]))
local owner, held = owner_of(id)
if not owner then return {'unknown'} end
if owner == node then
  local snap, pos = read_call(node, id)
  if not snap then return {'mine'} end
  return {'mine', snap, pos, tostring(held or 1)}
end
local expiry = redis.call('ZSCORE', KEYS[1], owner)
if expiry and tonumber(expiry) >= now then return {'alive', owner} end
local claimed = take(owner, id, node, tonumber(ARGV[3]))
if not claimed then return {'unknown'} end
return {'claimed', claimed[2], claimed[3], claimed[4]}
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
  if owner_of(ARGV[i]) == node and take(node, ARGV[i], back, retention) then
    moved = moved + 1
  end
end
if moved > 0 then redis.call('ZADD', KEYS[1], 0, back) end
return moved
`;
