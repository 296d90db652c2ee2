//! The directory's Lua scripts: each runs atomically inside Redis, so that seats are
//! counted, reserved and claimed by one script each, whichever node asks and however many
//! ask at once. Times come from Redis's own clock (`TIME`), never from a node's.
//!
//! Keys (prefix `tw:`):
//!
//! | key | what |
//! | --- | --- |
//! | `tw:node:{id}` | hash `url, players, rooms, cpu, draining`, with a TTL the heartbeat renews |
//! | `tw:nodes` | set of node ids (dead ones reaped by every heartbeat) |
//! | `tw:room:{code}` | hash `node, mode, map, max, private, seated, created` + figures `players, ticks, work, workmax` |
//! | `tw:pending:{code}` | sorted set: reservation nonce → expiry (Redis ms) |
//! | `tw:who:{code}` | hash: reservation nonce → the identity that reserved it (JWT) |
//! | `tw:rooms`, `tw:public:{mode}`, `tw:noderooms:{node}` | sets of room codes |
//! | channels `tw:create:{node}`, `tw:reply:{node}` | room creation requests and their answers |

/// The helpers every script starts with.
macro_rules! lua {
    ($body:literal) => {
        concat!(
            r"
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Seats taken in a room: claimed + reservations not yet expired (expired ones purged).
local function taken(code, now)
  local pk = 'tw:pending:' .. code
  local old = redis.call('ZRANGEBYSCORE', pk, '-inf', now)
  if #old > 0 then
    redis.call('ZREM', pk, unpack(old))
    redis.call('HDEL', 'tw:who:' .. code, unpack(old))
  end
  return tonumber(redis.call('HGET', 'tw:room:' .. code, 'seated') or '0') + redis.call('ZCARD', pk)
end
local function reserve(code, nonce, ttl, who, now)
  redis.call('ZADD', 'tw:pending:' .. code, now + ttl, nonce)
  if who ~= '' then redis.call('HSET', 'tw:who:' .. code, nonce, who) end
end
-- A live node's URL, or false (no heartbeat within its TTL, or draining).
local function open_node(node)
  local n = redis.call('HMGET', 'tw:node:' .. node, 'url', 'draining')
  if n[1] and n[2] ~= '1' then return n[1] end
  return false
end
local function unregister(code)
  local rk = 'tw:room:' .. code
  local f = redis.call('HMGET', rk, 'node', 'mode')
  redis.call('DEL', rk, 'tw:pending:' .. code, 'tw:who:' .. code)
  redis.call('SREM', 'tw:rooms', code)
  if f[2] then redis.call('SREM', 'tw:public:' .. f[2], code) end
  if f[1] then redis.call('SREM', 'tw:noderooms:' .. f[1], code) end
end
",
            $body
        )
    };
}

/// ARGV: code, nonce, ttl ms, who. A seat in that room:
/// `{ok, node, url, mode}`, `{gone}`, `{draining}`, `{full}`.
pub const RESERVE: &str = lua!(
    r"
local code = ARGV[1]
local rk = 'tw:room:' .. code
local node = redis.call('HGET', rk, 'node')
if not node then return {'gone'} end
local nk = 'tw:node:' .. node
if redis.call('EXISTS', nk) == 0 then return {'gone'} end
if redis.call('HGET', nk, 'draining') == '1' then return {'draining'} end
local now = clock()
if taken(code, now) >= tonumber(redis.call('HGET', rk, 'max')) then return {'full'} end
reserve(code, ARGV[2], tonumber(ARGV[3]), ARGV[4], now)
return {'ok', node, redis.call('HGET', nk, 'url'), redis.call('HGET', rk, 'mode')}
"
);

/// ARGV: mode, nonce, ttl ms, who, node ('' for any). Join-or-create's join: a seat in the
/// public room of the mode with the most seats taken that has a free one, on a live node
/// that is not draining (oldest first among equals): `{ok, code, node, url}` or `{none}`.
pub const MATCHMAKE: &str = lua!(
    r"
local now = clock()
local best, best_taken, best_created, best_node, best_url
local urls = {}
for _, code in ipairs(redis.call('SMEMBERS', 'tw:public:' .. ARGV[1])) do
  local f = redis.call('HMGET', 'tw:room:' .. code, 'node', 'max', 'created')
  local node = f[1]
  if node and (ARGV[5] == '' or node == ARGV[5]) then
    local url = urls[node]
    if url == nil then
      url = open_node(node)
      urls[node] = url
    end
    if url then
      local t = taken(code, now)
      local created = tonumber(f[3])
      if t < tonumber(f[2]) and (best == nil or t > best_taken
          or (t == best_taken and created < best_created)) then
        best, best_taken, best_created, best_node, best_url = code, t, created, node, url
      end
    end
  end
end
if not best then return {'none'} end
reserve(best, ARGV[2], tonumber(ARGV[3]), ARGV[4], now)
return {'ok', best, best_node, best_url}
"
);

/// No ARGV. The least-loaded live node that is not draining: load = its rooms + the seats
/// taken in them + 100 per core of tick CPU (ties: the smaller id): `{ok, node, url}` or
/// `{none}`.
pub const PICK_NODE: &str = lua!(
    r"
local now = clock()
local best, best_load, best_url
for _, node in ipairs(redis.call('SMEMBERS', 'tw:nodes')) do
  local n = redis.call('HMGET', 'tw:node:' .. node, 'url', 'draining', 'cpu')
  if n[1] and n[2] ~= '1' then
    local load = 100 * tonumber(n[3] or '0')
    for _, code in ipairs(redis.call('SMEMBERS', 'tw:noderooms:' .. node)) do
      load = load + 1 + taken(code, now)
    end
    if best == nil or load < best_load or (load == best_load and node < best) then
      best, best_load, best_url = node, load, n[1]
    end
  end
end
if not best then return {'none'} end
return {'ok', best, best_url}
"
);

/// ARGV: code, nonce, node (the claimer). A reservation turned into a seated player, once:
/// `{ok, who}`, `{used}`, `{expired}`, `{gone}`, `{other}` (the room is another node's).
pub const CLAIM: &str = lua!(
    r"
local rk = 'tw:room:' .. ARGV[1]
local node = redis.call('HGET', rk, 'node')
if not node then return {'gone'} end
if node ~= ARGV[3] then return {'other'} end
local pk = 'tw:pending:' .. ARGV[1]
local exp = redis.call('ZSCORE', pk, ARGV[2])
if not exp then return {'used'} end
redis.call('ZREM', pk, ARGV[2])
local who = redis.call('HGET', 'tw:who:' .. ARGV[1], ARGV[2]) or ''
redis.call('HDEL', 'tw:who:' .. ARGV[1], ARGV[2])
if tonumber(exp) <= clock() then return {'expired'} end
redis.call('HINCRBY', rk, 'seated', 1)
return {'ok', who}
"
);

/// ARGV: code. A seated player left for good.
pub const RELEASE: &str = lua!(
    r"
local rk = 'tw:room:' .. ARGV[1]
if redis.call('EXISTS', rk) == 1 and redis.call('HINCRBY', rk, 'seated', -1) < 0 then
  redis.call('HSET', rk, 'seated', 0)
end
return 1
"
);

/// ARGV: code, node, mode, map, max, private (0/1), seated, fresh (1: a new room, refused
/// when the code is taken; 0: the owner re-registering it). 1 registered, 0 code taken.
pub const REGISTER: &str = lua!(
    r"
local code = ARGV[1]
local rk = 'tw:room:' .. code
local exists = redis.call('EXISTS', rk) == 1
if ARGV[8] == '1' and exists then return 0 end
if ARGV[8] == '0' and exists and redis.call('HGET', rk, 'node') ~= ARGV[2] then return 0 end
redis.call('HSET', rk, 'node', ARGV[2], 'mode', ARGV[3], 'map', ARGV[4], 'max', ARGV[5],
  'private', ARGV[6], 'seated', ARGV[7])
if not exists then redis.call('HSET', rk, 'created', clock()) end
redis.call('SADD', 'tw:rooms', code)
if ARGV[6] == '0' then redis.call('SADD', 'tw:public:' .. ARGV[3], code) end
redis.call('SADD', 'tw:noderooms:' .. ARGV[2], code)
return 1
"
);

/// ARGV: code. The room is gone.
pub const UNREGISTER: &str = lua!(
    r"
unregister(ARGV[1])
return 1
"
);

/// ARGV: code, node. An empty room retired, unless a seat was reserved or claimed in it
/// meanwhile: 1 retired (or already gone), 0 not.
pub const RETIRE: &str = lua!(
    r"
local rk = 'tw:room:' .. ARGV[1]
local node = redis.call('HGET', rk, 'node')
if not node then return 1 end
if node ~= ARGV[2] then return 1 end
if taken(ARGV[1], clock()) > 0 then return 0 end
unregister(ARGV[1])
return 1
"
);

/// ARGV: node, ttl ms, url, players, rooms, cpu, draining (0/1). The heartbeat: the node's
/// record renewed; nodes whose record expired are reaped with their rooms. Returns whether
/// the node's record still existed (0: Redis lost it, or the node was taken for dead:
/// re-register every room).
pub const BEAT: &str = lua!(
    r"
local nk = 'tw:node:' .. ARGV[1]
local existed = redis.call('EXISTS', nk)
redis.call('HSET', nk, 'url', ARGV[3], 'players', ARGV[4], 'rooms', ARGV[5], 'cpu', ARGV[6],
  'draining', ARGV[7])
redis.call('PEXPIRE', nk, ARGV[2])
redis.call('SADD', 'tw:nodes', ARGV[1])
for _, node in ipairs(redis.call('SMEMBERS', 'tw:nodes')) do
  if redis.call('EXISTS', 'tw:node:' .. node) == 0 then
    for _, code in ipairs(redis.call('SMEMBERS', 'tw:noderooms:' .. node)) do
      unregister(code)
    end
    redis.call('DEL', 'tw:noderooms:' .. node)
    redis.call('SREM', 'tw:nodes', node)
  end
end
return existed
"
);

/// ARGV: node, then (code, players, ticks, work us, max work us) per room. The figures the
/// listing shows; also unregisters the node's rooms that are not in ARGV and are older than
/// 10 s (ended while the announcement was lost; a younger one may have been registered
/// after the node listed its rooms for this beat).
pub const FIGURES: &str = lua!(
    r"
local here = {}
for i = 2, #ARGV, 5 do
  local rk = 'tw:room:' .. ARGV[i]
  here[ARGV[i]] = true
  if redis.call('HGET', rk, 'node') == ARGV[1] then
    redis.call('HSET', rk, 'players', ARGV[i + 1], 'ticks', ARGV[i + 2], 'work', ARGV[i + 3],
      'workmax', ARGV[i + 4])
  end
end
local now = clock()
for _, code in ipairs(redis.call('SMEMBERS', 'tw:noderooms:' .. ARGV[1])) do
  if not here[code] then
    local created = tonumber(redis.call('HGET', 'tw:room:' .. code, 'created') or '0')
    if now - created > 10000 then unregister(code) end
  end
end
return 1
"
);

/// ARGV: node. The node leaves the cluster (a clean shutdown): its record and rooms go.
pub const LEAVE: &str = lua!(
    r"
for _, code in ipairs(redis.call('SMEMBERS', 'tw:noderooms:' .. ARGV[1])) do
  unregister(code)
end
redis.call('DEL', 'tw:noderooms:' .. ARGV[1], 'tw:node:' .. ARGV[1])
redis.call('SREM', 'tw:nodes', ARGV[1])
return 1
"
);

/// ARGV: mode ('' for every mode), code ('' for the list). Rooms on live nodes: the public
/// ones (of the mode), or the one room `code` (private or not). Each room is 13 values:
/// code, node, mode, map, players, taken, max, private, age s, ticks, work, workmax, url.
pub const LIST: &str = lua!(
    r"
local now = clock()
local codes
if ARGV[2] ~= '' then codes = {ARGV[2]}
elseif ARGV[1] ~= '' then codes = redis.call('SMEMBERS', 'tw:public:' .. ARGV[1])
else codes = redis.call('SMEMBERS', 'tw:rooms') end
local out = {}
for _, code in ipairs(codes) do
  local f = redis.call('HMGET', 'tw:room:' .. code, 'node', 'mode', 'map', 'players', 'max',
    'private', 'created', 'ticks', 'work', 'workmax')
  if f[1] and (ARGV[2] ~= '' or f[6] == '0') then
    local url = redis.call('HGET', 'tw:node:' .. f[1], 'url')
    if url then
      local t = taken(code, now)
      local age = math.floor((now - tonumber(f[7] or now)) / 1000)
      for _, v in ipairs({code, f[1], f[2], f[3], f[4] or '0', t, f[5], f[6], age,
          f[8] or '0', f[9] or '0', f[10] or '0', url}) do
        out[#out + 1] = tostring(v)
      end
    end
  end
end
return out
"
);
