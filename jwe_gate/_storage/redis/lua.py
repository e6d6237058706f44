"""The Lua scripts of the Redis stores: each store operation is one script, so it is atomic (Redis
runs a script to its end before any other command). The transitions are those of
``jwe_gate._storage.state``, written again in Lua; ``tests/contract/test_redis_parity.py``
drives the same stories through both.

Times arrive as the caller's strings (Python's ``repr`` of a float, which ``tonumber`` reads
back exactly) and are stored as given: Lua prints numbers with 14 digits, which would round an
epoch time. Every key written gets a TTL in milliseconds (``PEXPIRE``), computed by the caller
from its own clock, so the store's logic never depends on Redis's clock, and the TTL only
garbage-collects what has already ended.
"""

from __future__ import annotations

__all__ = [
    "ONCE_DROP",
    "ONCE_PUT",
    "ONCE_TAKE",
    "SESSION_ADD",
    "SESSION_REVOKE",
    "SESSION_REVOKE_FAMILY",
    "SESSION_REVOKE_SUBJECT",
    "SESSION_ROTATE",
    "THROTTLE_HIT",
    "THROTTLE_TAKE",
]

_EXTEND = """
local function extend(key, ms)
  -- A key shared by several records lives as long as its longest-lived one.
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""

SESSION_ADD = (
    _EXTEND
    + """
-- KEYS[1] the family's hash, KEYS[2] the record's set of families
-- ARGV: head, table, subject, created_at, now, expires_at, ttl_ms, family key prefix, family
local ttl = tonumber(ARGV[7])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'table', ARGV[2], 'subject', ARGV[3], 'created_at', ARGV[4],
  'head', ARGV[1], 'rotated_at', ARGV[5], 'expires_at', ARGV[6], 'generation', 0,
  'revoked', 0, 'of', KEYS[2])
redis.call('PEXPIRE', KEYS[1], ttl)
-- Forget a few families that have expired (bounded work per call): the set stays bounded by
-- the record's live sessions.
for _, fam in ipairs(redis.call('SRANDMEMBER', KEYS[2], 4)) do
  if redis.call('EXISTS', ARGV[8] .. fam) == 0 then redis.call('SREM', KEYS[2], fam) end
end
redis.call('SADD', KEYS[2], ARGV[9])
extend(KEYS[2], ttl)
return 1
"""
)

SESSION_ROTATE = (
    _EXTEND
    + """
-- KEYS[1] the family's hash. ARGV: token, child, now, expires_at, grace, ttl_ms
local f = redis.call('HMGET', KEYS[1], 'table', 'subject', 'created_at', 'head', 'prev',
  'rotated_at', 'expires_at', 'generation', 'revoked', 'of')
local now = tonumber(ARGV[3])
-- state.rotation: unknown, revoked or expired is INVALID, and nothing changes.
if not f[1] or f[9] == '1' or tonumber(f[7]) <= now then return {'invalid'} end
local head, generation, outcome = f[4], tonumber(f[8]), 'stale'
if ARGV[1] == head then
  outcome = 'rotated'
  generation = generation + 1
  redis.call('HSET', KEYS[1], 'prev', head, 'head', ARGV[2], 'rotated_at', ARGV[3],
    'expires_at', ARGV[4], 'generation', generation)
  head = ARGV[2]
  local ttl = tonumber(ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ttl)
  -- The record's set must outlive the family, or revoking the record would miss it.
  extend(f[10], ttl)
elseif f[5] and ARGV[1] == f[5] then
  local grace = tonumber(ARGV[5])
  if grace > 0 and now - tonumber(f[6]) <= grace and ARGV[2] == head then
    outcome = 'grace'
  else
    -- A spent token presented again: the thief or the victim holds a copy (RFC 9700).
    outcome = 'reused'
    redis.call('HSET', KEYS[1], 'revoked', 1)
  end
end
return {outcome, f[1], f[2], f[3], head, generation}
"""
)

SESSION_REVOKE = """
-- KEYS[1] the family's hash. ARGV: token
local f = redis.call('HMGET', KEYS[1], 'table', 'subject', 'created_at', 'head', 'prev')
if not f[1] or (ARGV[1] ~= f[4] and ARGV[1] ~= f[5]) then return false end
redis.call('HSET', KEYS[1], 'revoked', 1)
return {f[1], f[2], f[3]}
"""

SESSION_REVOKE_FAMILY = """
-- KEYS[1] the family's hash. A missing family is not created (it would have no TTL).
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'revoked', 1) end
return 1
"""

SESSION_REVOKE_SUBJECT = """
-- KEYS[1] the record's set of families. ARGV: family key prefix, keep ('' for none), has_keep
for _, fam in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if ARGV[3] ~= '1' or fam ~= ARGV[2] then
    local key = ARGV[1] .. fam
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, 'revoked', 1)
    else
      redis.call('SREM', KEYS[1], fam)
    end
  end
end
return 1
"""

THROTTLE_HIT = """
-- KEYS[1] the counter's hash. ARGV: now, amount, now + window, window_ms
local f = redis.call('HMGET', KEYS[1], 'count', 'reset_at')
local count, reset_at = tonumber(f[1]) or 0, f[2]
local fresh = false
-- state.window_hit: an ended (or unknown) window restarts at now.
if not reset_at or tonumber(reset_at) <= tonumber(ARGV[1]) then
  count, reset_at, fresh = 0, ARGV[3], true
end
count = math.max(0, count + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'count', count, 'reset_at', reset_at)
if fresh then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4])) end
return {count, reset_at}
"""

THROTTLE_TAKE = """
-- KEYS[1] the counter's hash. ARGV: now, at_most ('' for all)
local f = redis.call('HMGET', KEYS[1], 'count', 'reset_at')
if not f[2] then return 0 end
-- state.window_take: nothing from an ended window.
if tonumber(f[2]) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 0
end
local count = tonumber(f[1])
local taken = count
if ARGV[2] ~= '' then taken = math.max(0, math.min(count, tonumber(ARGV[2]))) end
if count - taken > 0 then
  redis.call('HSET', KEYS[1], 'count', count - taken)
else
  redis.call('DEL', KEYS[1])
end
return taken
"""

ONCE_PUT = (
    _EXTEND
    + """
-- KEYS[1] the token's hash, KEYS[2] the record's hash (purpose -> token).
-- ARGV: token, purpose, table, subject, expires_at, ttl_ms, token key prefix
local earlier = redis.call('HGET', KEYS[2], ARGV[2])
-- A new token kills the record's last one of that purpose, in the same step.
if earlier then redis.call('DEL', ARGV[7] .. earlier) end
local was = redis.call('HMGET', KEYS[1], 'purpose', 'of')
if was[1] and redis.call('HGET', was[2], was[1]) == ARGV[1] then
  redis.call('HDEL', was[2], was[1])
end
local ttl = tonumber(ARGV[6])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'purpose', ARGV[2], 'table', ARGV[3], 'subject', ARGV[4],
  'expires_at', ARGV[5], 'of', KEYS[2])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
extend(KEYS[2], ttl)
return 1
"""
)

ONCE_TAKE = """
-- KEYS[1] the token's hash. ARGV: purpose, table, now, token
local f = redis.call('HMGET', KEYS[1], 'purpose', 'table', 'subject', 'expires_at', 'of')
-- Bound to its purpose and table: a reset token never verifies an email.
if not f[1] or f[1] ~= ARGV[1] or f[2] ~= ARGV[2] or tonumber(f[4]) <= tonumber(ARGV[3]) then
  return false
end
redis.call('DEL', KEYS[1])
if redis.call('HGET', f[5], f[1]) == ARGV[4] then redis.call('HDEL', f[5], f[1]) end
return f[3]
"""

ONCE_DROP = """
-- KEYS[1] the record's hash. ARGV: token key prefix, one purpose ('1') or all ('0'), purpose
if ARGV[2] == '1' then
  local token = redis.call('HGET', KEYS[1], ARGV[3])
  if token then
    redis.call('DEL', ARGV[1] .. token)
    redis.call('HDEL', KEYS[1], ARGV[3])
  end
else
  local all = redis.call('HGETALL', KEYS[1])
  for i = 2, #all, 2 do redis.call('DEL', ARGV[1] .. all[i]) end
  redis.call('DEL', KEYS[1])
end
return 1
"""
