package state

// saveScript merges one rule's changes. KEYS: the rules set, the watermark,
// the change stream, then per kind (terms, groups, alerted, suppress,
// pending) its hash and its sorted set by time. ARGV: rule id, instance,
// watermark, the cutoffs (terms, groups, alerted, suppress, pending), the
// number of entries of each list (terms, groups, alerted, suppress,
// pending, pending removals), the lists as (field, time, value) triples,
// and the change record for the stream. It returns 1 when expired entries
// are left (it drops at most 20,000 of a kind a call), else 0. Times are
// decimal Unix ns,
// compared as decimal strings (Lua's numbers are doubles); the sorted sets'
// double scores are only used to find entries before a cutoff, where a
// rounding can only keep an entry a little longer.
const saveScript = `
local function less(a, b)
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return na end
  if #a ~= #b then if na then return #a > #b else return #a < #b end end
  if na then return a > b end
  return a < b
end
local function first(v) return string.match(v, '^(%S+)') end
local function later(v, old) -- suppression windows: the later end, then the greater value
  local a, b = first(v), first(old)
  if a ~= b then return less(b, a) end
  return v > old
end
local id, inst, wm = ARGV[1], ARGV[2], ARGV[3]
redis.call('SADD', KEYS[1], id)
local cur = redis.call('GET', KEYS[2])
if not cur or less(cur, wm) then redis.call('SET', KEYS[2], wm) end
local n = {}
for i = 1, 6 do n[i] = tonumber(ARGV[8 + i]) end
local a = 15
for kind = 1, 5 do
  local h, z = KEYS[2 + 2 * kind], KEYS[3 + 2 * kind]
  for _ = 1, n[kind] do
    local f, t, v = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    a = a + 3
    local old = redis.call('HGET', h, f)
    local win
    if kind <= 3 then win = (not old) or less(old, v)
    elseif kind == 4 then win = (not old) or later(v, old)
    else win = true end -- pending: the last save wins
    if win then
      redis.call('HSET', h, f, v)
      redis.call('ZADD', z, t, f)
    end
  end
end
local more = 0
local hp, zp = KEYS[12], KEYS[13]
for _ = 1, n[6] do
  local f, v = ARGV[a], ARGV[a + 2]
  a = a + 3
  local old = redis.call('HGET', hp, f)
  if old == v then
    redis.call('HDEL', hp, f)
    redis.call('ZREM', zp, f)
  end
end
for kind = 1, 5 do
  local h, z = KEYS[2 + 2 * kind], KEYS[3 + 2 * kind]
  local cutoff = '(' .. ARGV[3 + kind]
  for _ = 1, 20 do -- at most 20,000 a call (saveChunk): the caller calls again for the rest
    local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff, 'LIMIT', 0, 1000)
    if #old == 0 then break end
    redis.call('HDEL', h, unpack(old))
    redis.call('ZREM', z, unpack(old))
  end
  if #redis.call('ZRANGEBYSCORE', z, '-inf', cutoff, 'LIMIT', 0, 1) > 0 then more = 1 end
end
local change = ARGV[a]
if #change > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000', '*', 'r', id, 'i', inst, 'd', change)
end
return more
`
