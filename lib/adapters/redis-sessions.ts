import type { Redis } from '@upstash/redis';
import { randomBytes } from 'node:crypto';
import { AppError } from '../errors';
import { publicSessionId } from '../sessions/public-id';
import { recordedJson, type Recording } from './http';
import type { ClaimLimit, CodeAttempt, CodeClaim, CommitLogin, CommitOutcome, Committed, Release, SessionIdentity, SessionPurge, SessionRecord, SessionRevoker, SessionStore, SessionSummary, SessionVerifier, LoginLogEntry } from '../sessions/ports';

export function sessionKeys(prefix: string) {
  return {
    session: (tokenHash: string) => `${prefix}session:${tokenHash}`,
    code: (codeId: string) => `${prefix}code:${codeId}`,
    loginRate: (caller: string, window: number) => `${prefix}rate:login:${caller}:${window}`,
    userSessions: (userId: string) => `${prefix}user-sessions:${userId}`,
    /** The keys of the user's login-code results (they replay a session), for deletion. */
    userCodes: (userId: string) => `${prefix}user-codes:${userId}`,
    /** Set while (and a day after) the user is deleted: no login may commit a session for them. */
    deleted: (userId: string) => `${prefix}deleted:${userId}`,
    /**
     * Set by the user's first successful login (the one told isNewUser), kept until the account
     * is deleted: what makes exactly one commit per user the new user's, whatever failed before.
     */
    welcomed: (userId: string) => `${prefix}welcomed:${userId}`,
    /**
     * Set while the user is suspended (lib/users/suspension.ts): `<until ms, 0 for none>|<set at ms>`,
     * expiring at the end time. No login commits a session for the user while it stands.
     */
    suspended: (userId: string) => `${prefix}suspended:${userId}`,
    /** The user's checksession calls in the sliding window (POST /user/opendata): a sorted set by time. */
    opendataChecks: (userId: string) => `${prefix}rate:opendata:${userId}`,
    /** The user's login log: a sorted set of JSON entries scored by time (LOGIN_LOG_RETENTION_DAYS). */
    loginLog: (userId: string) => `${prefix}login-log:${userId}`,
  };
}

/** The head of a login log entry, a JSON object without its closing brace: the commit script adds the result. */
function loginLogHead(session: SessionRecord, loginId: string): string {
  const entry = {
    // The attempt's own id (a ULID): two entries of the same millisecond stay two.
    id: loginId,
    at: new Date(session.issuedAt).toISOString(),
    ...(session.appid ? { appid: session.appid } : {}),
    ...(session.network ? { network: session.network } : {}),
    ...(session.agent ? { agent: session.agent } : {}),
  };
  return JSON.stringify(entry).slice(0, -1);
}

/** Hash field names of a session record; short because every authorized request reads them. */
export const FIELDS = {
  userId: 'uid',
  openid: 'oid',
  unionid: 'uni',
  sealedSessionKey: 'sk',
  issuedAt: 'iat',
  maxExpiresAt: 'mxp',
  appid: 'app',
  home: 'hom',
  /** Epoch ms of the session's last authorized request (the authorizer's lookup writes it). */
  lastUsed: 'lu',
  /** The client's network at the login, masked (IPv4 /24, IPv6 /48). */
  network: 'net',
  /** A short summary of the client's user agent at the login. */
  agent: 'ua',
  /** Set when WeChat said the session's key is stale (checksession 87009): the next failure needs no asking. */
  staleKey: 'skx',
} as const;

/** The slice of the Upstash client this adapter uses. */
export type RedisLike = Pick<Redis, 'del' | 'multi' | 'eval' | 'zrange' | 'scan' | 'hmget'>;

/*
 * A login code's key holds one of (loginId: the request's ULID; proof: digest of X-Login-Proof or ''):
 *   p|<loginId>|<proof>    claimed: that request is exchanging the code now
 *   d|<loginId>|<tokenHash>|<new>|<result>   done: the login committed; <result> is what a
 *                          replay gets, while the session named by <tokenHash> lives; <new> is
 *                          1 when it was the user's first login, else 0
 *   r|<loginId>            released: that request failed and let go; the code is free again
 * Every script below is keyed by the request's loginId, so each one is safe to send twice and
 * harmless when it arrives after its request gave up (the transport re-sends a request whose
 * kept-alive socket was reset, and an answer can be lost after Redis ran the script).
 * Each script opens with a `-- wxlogin:<name>` line, so a log or a test's fault proxy can tell them apart.
 * Only GET, SET (EX and NX forms), INCR, PEXPIRE, EXPIRE, HSET, HMGET, DEL, ZADD and
 * ZREMRANGEBYSCORE are called: all on Upstash's compatibility list in their Redis 6.2 forms.
 */

/**
 * Lua, for the scripts that read a done code: the parts of its value after `d|<loginId>|`,
 * which are `<tokenHash>|<new>|<result>` (or only `<result>` in a value written before the
 * token hash was kept: then no hash and no flag).
 */
const DONE_PARTS = `local function doneParts(rest)
  if string.sub(rest, 1, 1) == '{' then return nil, nil, rest end
  local cut = string.find(rest, '|', 1, true)
  return string.sub(rest, 1, cut - 1), string.sub(rest, cut + 1, cut + 1), string.sub(rest, cut + 3)
end`;

/**
 * Lookup and renewal as one atomic step (one request). KEYS[1] is the session; ARGV[1] now
 * in ms, ARGV[2] the idle TTL in ms. A session past its absolute cap is deleted on sight.
 */
export const TOUCH_SCRIPT = `-- wxlogin:touch
local s = redis.call('HMGET', KEYS[1], '${FIELDS.userId}', '${FIELDS.openid}', '${FIELDS.unionid}', '${FIELDS.maxExpiresAt}', '${FIELDS.appid}', '${FIELDS.home}')
if not s[1] then return false end
local left = (tonumber(s[4]) or 0) - tonumber(ARGV[1])
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[2]), left))
redis.call('HSET', KEYS[1], '${FIELDS.lastUsed}', ARGV[1])
return {s[1], s[2], s[3] or '', s[5] or '', s[6] or ''}
`;

/**
 * Rate limit and claim as one atomic step (one request). KEYS: code, current window, previous
 * window. ARGV: claim TTL (s), limit, window (ms), ms elapsed in the current window, loginId,
 * proof, the session key prefix. A done code whose session has ended since (logged out,
 * revoked, expired, deleted) is 'spent': its replay would hand out a dead token.
 * (The session's key is named from the done value's token hash; a value written before the
 * hash was kept, `d|<loginId>|{…}`, replays as before.)
 * The limit is a sliding window: the previous window's count, weighted by how much of it
 * still overlaps the last `window` ms, plus the current one. Refused attempts are not counted,
 * and neither is this same claim sent again.
 */
export const CLAIM_SCRIPT = `-- wxlogin:claim
${DONE_PARTS}
local current = redis.call('GET', KEYS[1])
local mine = 'p|' .. ARGV[5] .. '|'
if current then
  if string.sub(current, 1, #mine) == mine then return {'claimed'} end
  if current == 'r|' .. ARGV[5] then return {'released'} end
end
local limit = tonumber(ARGV[2])
if limit > 0 then
  local window = tonumber(ARGV[3])
  local now = tonumber(redis.call('GET', KEYS[2]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[3]) or '0')
  if previous * (window - tonumber(ARGV[4])) / window + now >= limit then
    return {'limited'}
  end
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], window * 2)
end
if current then
  local kind = string.sub(current, 1, 2)
  if kind == 'd|' then
    local tokenHash, new, result = doneParts(string.sub(current, string.find(current, '|', 3, true) + 1))
    if not tokenHash then return {'done', result} end
    if redis.call('EXISTS', ARGV[7] .. tokenHash) == 0 then return {'spent', result} end
    return {'done', result, new}
  end
  if kind == 'p|' then
    local owner, proof = string.match(current, '^p|([^|]*)|(.*)$')
    if ARGV[6] == '' or proof ~= ARGV[6] or owner >= ARGV[5] then return {'pending'} end
  end
end
redis.call('SET', KEYS[1], mine .. ARGV[6], 'EX', ARGV[1])
return {'claimed'}
`;

/**
 * Commit of a login (one request): session, code result and the user's session index, only
 * while the request still holds its claim, and never for a user being deleted. KEYS: code,
 * session, user index, the user's code index, the user's deleted mark, the user's welcome
 * mark. ARGV: loginId, code result, its TTL (s), session TTL (s), the session's absolute cap
 * (index score), prune entries scored at or below this, index TTL (s), token hash, new user
 * ('1', '0', or '?': the welcome mark decides, and is set), the cap on the user's live sessions
 * ('0': none), the session keys' prefix, the login log entry's head (a JSON object without its
 * closing brace; '' when the log is off), the session's public id, the log's retention (s), the
 * log's most entries, then the session's field/value pairs. KEYS[8] is the user's login log: a
 * sorted set of JSON entries scored by time, to which a commit and a suspended user's refusal
 * each add one (docs/operators.md).
 * Answers 'committed|<new>' (also to a second copy of a commit that landed), 'fenced', 'deleted'
 * or, for a user merged into another (the mark holds '<intoUserId>|<its home openid>'),
 * 'merged|<intoUserId>|<home>', or for a suspended user (KEYS[7], the suspended mark)
 * 'suspended|<until ms>|<set at ms>'.
 */
export const COMMIT_SCRIPT = `-- wxlogin:commit
${DONE_PARTS}
local current = redis.call('GET', KEYS[1])
local id = ARGV[1]
if not current then return 'fenced' end
local head = string.sub(current, 1, #id + 3)
if head == 'd|' .. id .. '|' then
  local _, new = doneParts(string.sub(current, #id + 4))
  return 'committed|' .. (new or '0')
end
if head ~= 'p|' .. id .. '|' then return 'fenced' end
local gone = redis.call('GET', KEYS[5])
if gone then
  if gone == '1' then return 'deleted' end
  return 'merged|' .. gone
end
local function logLogin(result, session)
  if ARGV[12] == '' then return end
  local entry = ARGV[12] .. ',"result":"' .. result .. '"'
  if session then entry = entry .. ',"session":"' .. session .. '"' end
  redis.call('ZADD', KEYS[8], ARGV[6], entry .. '}')
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', tonumber(ARGV[6]) - tonumber(ARGV[14]) * 1000)
  redis.call('ZREMRANGEBYRANK', KEYS[8], 0, -(tonumber(ARGV[15]) + 1))
  redis.call('EXPIRE', KEYS[8], ARGV[14])
end
local suspended = redis.call('GET', KEYS[7])
if suspended then
  logLogin('ACCOUNT_SUSPENDED')
  return 'suspended|' .. suspended
end
local new = ARGV[9]
if new == '?' then
  if redis.call('SET', KEYS[6], '1', 'NX') then new = '1' else new = '0' end
end
redis.call('SADD', KEYS[4], KEYS[1])
redis.call('EXPIRE', KEYS[4], ARGV[3])
redis.call('HSET', KEYS[2], unpack(ARGV, 16))
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], 'd|' .. id .. '|' .. ARGV[8] .. '|' .. new .. '|' .. ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[7])
-- The cap on a user's live sessions (ARGV[10]; ARGV[11] the session keys' prefix): entries whose
-- session expired go, and past the cap the least recently used others end.
local cap = tonumber(ARGV[10])
if cap and cap > 0 then
  -- The others (the new session is never ended by its own login): past cap - 1, the least
  -- recently used go, whatever the clocks of the containers that stamped them.
  local live = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    if id ~= ARGV[8] then
      local used = redis.call('HMGET', ARGV[11] .. id, '${FIELDS.lastUsed}', '${FIELDS.issuedAt}')
      if used[2] then
        table.insert(live, { id = id, at = tonumber(used[1] or used[2]) or 0 })
      else
        redis.call('ZREM', KEYS[3], id)
      end
    end
  end
  if #live > cap - 1 then
    table.sort(live, function(a, b) return a.at < b.at end)
    for i = 1, #live - (cap - 1) do
      redis.call('DEL', ARGV[11] .. live[i].id)
      redis.call('ZREM', KEYS[3], live[i].id)
    end
  end
end
logLogin('success', ARGV[13])
return 'committed|' .. new
`;

/**
 * Release and fence (one request). KEYS: code. ARGV: loginId, TTL (s) of the released mark.
 * A code that is free (absent, or released by anyone) is marked released by this request too,
 * so its claim cannot land after this. A code this request committed answers 'committed|<new>'.
 */
export const RELEASE_SCRIPT = `-- wxlogin:release
${DONE_PARTS}
local current = redis.call('GET', KEYS[1])
local id = ARGV[1]
if current then
  local head = string.sub(current, 1, #id + 3)
  if head == 'd|' .. id .. '|' then
    local _, new = doneParts(string.sub(current, #id + 4))
    return 'committed|' .. (new or '0')
  end
  if head ~= 'p|' .. id .. '|' and string.sub(current, 1, 2) ~= 'r|' then return 'taken' end
end
redis.call('SET', KEYS[1], 'r|' .. id, 'EX', ARGV[2])
return 'released'
`;

/**
 * Deleting a user (one request, safe to repeat): the deleted mark first, so that no login
 * commits a session for them from now on; then every session in the user's index, the index,
 * and every stored login- and phone-code result that could replay a session or a number.
 * KEYS: session index, code index, phone-code index, deleted mark, welcome mark, then any more
 * of the user's keys to delete (lib/adapters/redis-phone-codes.ts phoneKeysOf). ARGV: the session key
 * prefix, the mark's TTL (s), and the mark's value: '1' for a deletion, '<intoUserId>|<home>' for
 * a user merged into another (lib/users/merge.ts). The sessions' and codes' own keys are named by the indexes (one
 * Redis database, as Upstash has, so a script may reach them).
 */
export const PURGE_USER_SCRIPT = `-- wxlogin:purge-user
redis.call('SET', KEYS[4], ARGV[3] or '1', 'EX', ARGV[2])
local sessions = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(sessions) do redis.call('DEL', ARGV[1] .. id) end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('DEL', key) end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[5])
for i = 6, #KEYS do redis.call('DEL', KEYS[i]) end
return #sessions
`;

/**
 * Suspending a user (one request, safe to repeat): the suspended mark first, then every session
 * in the user's index and the index, in the same step, so that no login commits a session
 * between them (a commit checks the mark). KEYS: the suspended mark, the session index. ARGV:
 * the session key prefix, the mark's value, its lifetime in ms ('0': until lifted). Answers how
 * many sessions ended.
 */
export const SUSPEND_SCRIPT = `-- wxlogin:suspend
if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
local sessions = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, id in ipairs(sessions) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[2])
return #sessions
`;

/** The user's suspended mark, if any (one request). KEYS: the mark. */
export const SUSPENSION_SCRIPT = `-- wxlogin:suspension
return redis.call('GET', KEYS[1])
`;

/**
 * Ending the sessions a user opened through one app (one request, safe to repeat): an App's
 * grant withdrawn (RevokeInfo 301). KEYS: the user's session index. ARGV: the session key
 * prefix, the AppID. Answers how many ended.
 */
export const REVOKE_APP_SESSIONS_SCRIPT = `-- wxlogin:revoke-app
local ended = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. id
  if redis.call('HGET', key, '${FIELDS.appid}') == ARGV[2] then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], id)
    ended = ended + 1
  end
end
return ended
`;

/**
 * The user's live sessions (one request), for their list, an export or the operator: for each,
 * when it was created, its absolute cap, how long it has left, when it was last used, its app,
 * network and agent. The index keeps entries whose session ended idle; they are skipped.
 * KEYS: session index. ARGV: the session key prefix. Returns a flat list, SESSION_FIELDS a session.
 */
export const SESSIONS_OF_SCRIPT = `-- wxlogin:sessions-of
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. id
  local left = redis.call('PTTL', key)
  if left > 0 then
    local s = redis.call('HMGET', key, '${FIELDS.issuedAt}', '${FIELDS.maxExpiresAt}', '${FIELDS.lastUsed}', '${FIELDS.appid}', '${FIELDS.network}', '${FIELDS.agent}')
    table.insert(out, id)
    table.insert(out, s[1] or '0')
    table.insert(out, s[2] or '0')
    table.insert(out, tostring(left))
    for i = 3, 6 do table.insert(out, s[i] or '') end
  end
end
return out
`;
const SESSION_FIELDS = 8;

/** How long a user's login log keeps an entry, by default (LOGIN_LOG_RETENTION_DAYS). */
export const DEFAULT_LOGIN_LOG_DAYS = 90;
/** The most entries a user's login log keeps (the latest). */
export const LOGIN_LOG_MAX_ENTRIES = 200;

/**
 * A live session's new sealed session_key, its stale verdict forgotten (one request); a session
 * that is gone is never made again, without a TTL, by the HSET. KEYS: the session. ARGV: the
 * sealed key. Answers 1 when written, 0 when the session is gone.
 */
export const RESEAL_KEY_SCRIPT = `-- wxlogin:reseal-key
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], '${FIELDS.sealedSessionKey}', ARGV[1])
redis.call('HDEL', KEYS[1], '${FIELDS.staleKey}')
return 1
`;

/**
 * Counts one checksession of the user's in a sliding window (one request), refusing past the
 * limit: bad ciphertexts cannot burn WeChat's quota. KEYS: the user's checks, a sorted set
 * scored by time. ARGV: limit, window (ms), now (ms), this check's id. Answers 0 when allowed
 * (and counted), else the seconds until the oldest check in the window leaves it.
 */
export const OPENDATA_CHECK_SCRIPT = `-- wxlogin:opendata-check
local now, window = tonumber(ARGV[3]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(math.ceil((tonumber(oldest[2]) + window - now) / 1000), 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
`;

/**
 * Keeps WeChat's stale verdict on a session (one request), only while the session still holds
 * the key that was judged: a deletion's re-seal in between put a fresh one there. KEYS: the
 * session. ARGV: the sealed key that was judged.
 */
export const MARK_STALE_SCRIPT = `-- wxlogin:mark-stale
if redis.call('HGET', KEYS[1], '${FIELDS.sealedSessionKey}') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], '${FIELDS.staleKey}', '1')
return 1
`;

/** A user's live sessions at most, across every app, by default (MAX_SESSIONS_PER_USER). */
export const DEFAULT_MAX_SESSIONS_PER_USER = 20;

/** How long the deleted mark outlives a deletion: far longer than any login in flight. */
export const DELETED_MARK_TTL_SECONDS = 86_400;

/**
 * Sessions and login-code claims in Upstash Redis (HTTP). Every failure becomes
 * SERVICE_UNAVAILABLE; the Upstash error itself is never logged by message, because it
 * quotes the command it failed on.
 */
/**
 * What Upstash answers a login's claim and commit, for a rehearsal (lib/login/prime.ts): the
 * code is free, and the first commit is the user's first login, every later one a return.
 */
export function recordedLoginScripts(): Recording {
  let commits = 0;
  const marker = (script: string) => script.slice(0, script.indexOf('\n'));
  return ({ body }) => {
    if (body.includes(marker(CLAIM_SCRIPT))) return recordedJson(200, { result: ['claimed'] });
    if (body.includes(marker(COMMIT_SCRIPT))) return recordedJson(200, { result: `committed|${++commits === 1 ? 1 : 0}` });
    return undefined;
  };
}

export class RedisSessionStore implements SessionStore, SessionVerifier, SessionRevoker, SessionPurge {
  private readonly keys: ReturnType<typeof sessionKeys>;
  private readonly userIndexTtlSeconds: number;

  /** The cap on a user's live sessions (0: none); a login past it ends the least recently used. */
  private readonly maxSessions: number;
  /** How long the login log keeps an entry (0: no log). */
  private readonly loginLogSeconds: number;

  constructor(
    private readonly redis: RedisLike,
    options: { keyPrefix: string; userIndexTtlSeconds: number; maxSessionsPerUser?: number; loginLogDays?: number },
  ) {
    this.keys = sessionKeys(options.keyPrefix);
    this.userIndexTtlSeconds = options.userIndexTtlSeconds;
    this.maxSessions = options.maxSessionsPerUser ?? DEFAULT_MAX_SESSIONS_PER_USER;
    this.loginLogSeconds = (options.loginLogDays ?? DEFAULT_LOGIN_LOG_DAYS) * 86_400;
  }

  async claimCode(attempt: CodeAttempt, ttlSeconds: number, limit?: ClaimLimit): Promise<CodeClaim> {
    const windowMs = (limit?.windowSeconds ?? 1) * 1000;
    const now = limit?.now ?? 0;
    const window = Math.floor(now / windowMs);
    const caller = limit?.caller ?? '-';
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(
        CLAIM_SCRIPT,
        [this.keys.code(attempt.codeId), this.keys.loginRate(caller, window), this.keys.loginRate(caller, window - 1)],
        [String(ttlSeconds), String(limit?.limit ?? 0), String(windowMs), String(now - window * windowMs), attempt.loginId, attempt.proofHash, this.keys.session('')],
      ),
    );
    const [state, result, isNew] = Array.isArray(reply) ? reply.map(String) : [];
    switch (state) {
      case 'claimed':
        return { state: 'claimed' };
      case 'pending':
        return { state: 'pending' };
      case 'done':
        return isNew === '1' || isNew === '0' ? { state: 'done', result: String(result), isNewUser: isNew === '1' } : { state: 'done', result: String(result) };
      case 'spent':
        return { state: 'spent', ...(result !== undefined && result !== 'undefined' ? { result } : {}) };
      case 'limited':
        // The current window's end: by then the oldest attempts weigh less.
        return { state: 'limited', retryAfterSeconds: Math.max(1, Math.ceil(((window + 1) * windowMs - now) / 1000)) };
      default:
        // 'released' reaches only a request that already gave up; anything else is a bug.
        throw new AppError('SERVICE_UNAVAILABLE', `unexpected reply to the claim script: ${String(state)}`, { details: { store: 'redis' } });
    }
  }

  async commitLogin(input: CommitLogin): Promise<CommitOutcome> {
    const { session } = input;
    const fields: string[] = [
      FIELDS.userId,
      session.userId,
      FIELDS.openid,
      session.openid,
      FIELDS.issuedAt,
      String(session.issuedAt),
      FIELDS.maxExpiresAt,
      String(session.maxExpiresAt),
    ];
    if (session.sealedSessionKey) fields.push(FIELDS.sealedSessionKey, session.sealedSessionKey);
    if (session.unionid) fields.push(FIELDS.unionid, session.unionid);
    if (session.appid) fields.push(FIELDS.appid, session.appid);
    if (session.home) fields.push(FIELDS.home, session.home);
    if (session.network) fields.push(FIELDS.network, session.network);
    if (session.agent) fields.push(FIELDS.agent, session.agent);
    // The per-user index lets "log out everywhere" find sessions without a scan: a sorted set
    // scored by each session's absolute cap, pruned of dead entries at every login, and
    // outliving every session it lists.
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(
        COMMIT_SCRIPT,
        [
          this.keys.code(input.attempt.codeId),
          this.keys.session(input.tokenHash),
          this.keys.userSessions(session.userId),
          this.keys.userCodes(session.userId),
          this.keys.deleted(session.userId),
          this.keys.welcomed(session.userId),
          this.keys.suspended(session.userId),
          this.keys.loginLog(session.userId),
        ],
        [
          input.attempt.loginId,
          input.codeResult,
          String(input.codeTtlSeconds),
          String(input.ttlSeconds),
          String(session.maxExpiresAt),
          String(session.issuedAt),
          String(this.userIndexTtlSeconds),
          input.tokenHash,
          input.newUser === 'ask' ? '?' : input.newUser ? '1' : '0',
          String(this.maxSessions),
          this.keys.session(''),
          this.loginLogSeconds > 0 ? loginLogHead(session, input.attempt.loginId) : '',
          publicSessionId(input.tokenHash),
          String(this.loginLogSeconds),
          String(LOGIN_LOG_MAX_ENTRIES),
          ...fields,
        ],
      ),
    );
    if (reply === 'fenced' || reply === 'deleted') return { state: reply };
    if (typeof reply === 'string' && reply.startsWith('suspended|')) {
      const until = Number(reply.split('|')[1]);
      return { state: 'suspended', ...(until > 0 ? { until } : {}) };
    }
    if (typeof reply === 'string' && reply.startsWith('merged|')) {
      const [, userId, home] = reply.split('|');
      if (userId && home) return { state: 'merged', into: { userId, home } };
    }
    const committed = committedOf(reply);
    if (committed) return committed;
    throw new AppError('SERVICE_UNAVAILABLE', 'unexpected reply to the commit script', { details: { store: 'redis' } });
  }

  async releaseCode(attempt: Pick<CodeAttempt, 'codeId' | 'loginId'>, ttlSeconds: number): Promise<Release> {
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(RELEASE_SCRIPT, [this.keys.code(attempt.codeId)], [attempt.loginId, String(ttlSeconds)]),
    );
    if (reply === 'released' || reply === 'taken') return { state: reply };
    const committed = committedOf(reply);
    if (committed) return committed;
    throw new AppError('SERVICE_UNAVAILABLE', 'unexpected reply to the release script', { details: { store: 'redis' } });
  }

  async purgeUser(userId: string, phoneKeys: { index: string; others: string[] }, mergedInto?: { userId: string; home: string }): Promise<number> {
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(
        PURGE_USER_SCRIPT,
        [this.keys.userSessions(userId), this.keys.userCodes(userId), phoneKeys.index, this.keys.deleted(userId), this.keys.welcomed(userId), ...phoneKeys.others, this.keys.loginLog(userId), this.keys.suspended(userId)],
        [this.keys.session(''), String(DELETED_MARK_TTL_SECONDS), mergedInto ? `${mergedInto.userId}|${mergedInto.home}` : '1'],
      ),
    );
    return Number(reply) || 0;
  }

  async suspend(userId: string, until: number | undefined, now: number): Promise<number> {
    const lifetime = until === undefined ? 0 : Math.max(1, until - now);
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(SUSPEND_SCRIPT, [this.keys.suspended(userId), this.keys.userSessions(userId)], [this.keys.session(''), `${until ?? 0}|${now}`, String(lifetime)]),
    );
    return Number(reply) || 0;
  }

  async unsuspend(userId: string): Promise<void> {
    await guard(() => this.redis.del(this.keys.suspended(userId)));
  }

  async suspension(userId: string): Promise<{ until?: number; since: number } | null> {
    const reply = await guard(() => this.redis.eval<string[], unknown>(SUSPENSION_SCRIPT, [this.keys.suspended(userId)], []));
    if (typeof reply !== 'string') return null;
    const [until, since] = reply.split('|').map(Number);
    return { ...(until ? { until } : {}), since: since ?? 0 };
  }

  async revokeAppSessions(userId: string, appid: string): Promise<number> {
    const reply = await guard(() => this.redis.eval<string[], unknown>(REVOKE_APP_SESSIONS_SCRIPT, [this.keys.userSessions(userId)], [this.keys.session(''), appid]));
    return Number(reply) || 0;
  }

  async sessionsOf(userId: string, currentSessionId: string, now: number): Promise<SessionSummary[]> {
    const reply = await guard(() => this.redis.eval<string[], unknown>(SESSIONS_OF_SCRIPT, [this.keys.userSessions(userId)], [this.keys.session('')]));
    const flat = Array.isArray(reply) ? reply.map(String) : [];
    const out: SessionSummary[] = [];
    for (let i = 0; i + SESSION_FIELDS - 1 < flat.length; i += SESSION_FIELDS) {
      const [hash, created, cap, left, used, appid, network, agent] = flat.slice(i, i + SESSION_FIELDS) as [string, string, string, string, string, string, string, string];
      out.push({
        id: publicSessionId(hash),
        current: hash === currentSessionId,
        createdAt: new Date(Number(created)).toISOString(),
        lastUsedAt: new Date(Number(used || created)).toISOString(),
        expiresAt: new Date(Math.min(now + Number(left), Number(cap))).toISOString(),
        maxExpiresAt: new Date(Number(cap)).toISOString(),
        ...(appid ? { appid } : {}),
        ...(network ? { network } : {}),
        ...(agent ? { agent } : {}),
      });
    }
    // Newest first, as the user's own list and the operator's show them.
    return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async endSession(userId: string, publicId: string): Promise<boolean> {
    const indexKey = this.keys.userSessions(userId);
    // Only the user's own index is searched: another user's session id ends nothing.
    const hashes = (await guard(() => this.redis.zrange<string[]>(indexKey, 0, -1))).map(String);
    const hash = hashes.find((h) => publicSessionId(h) === publicId);
    return hash !== undefined && this.revoke(hash, userId);
  }

  async sealedKeyOf(sessionId: string): Promise<{ sealed?: string; stale: boolean } | null> {
    // The client is made without automatic deserialization (lib/adapters/redis.ts): HMGET's raw array.
    const reply = (await guard(() => this.redis.hmget(this.keys.session(sessionId), FIELDS.userId, FIELDS.sealedSessionKey, FIELDS.staleKey))) as unknown;
    const [userId, sealed, stale] = Array.isArray(reply) ? (reply as (string | null)[]) : [];
    if (!userId) return null;
    return { ...(sealed ? { sealed: String(sealed) } : {}), stale: Boolean(stale) };
  }

  async markKeyStale(sessionId: string, judged: string): Promise<void> {
    await guard(() => this.redis.eval<string[], unknown>(MARK_STALE_SCRIPT, [this.keys.session(sessionId)], [judged]));
  }

  async resealKey(sessionId: string, sealed: string): Promise<void> {
    await guard(() => this.redis.eval<string[], unknown>(RESEAL_KEY_SCRIPT, [this.keys.session(sessionId)], [sealed]));
  }

  async countKeyCheck(userId: string, limit: { limit: number; windowSeconds: number; now: number }): Promise<number> {
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(OPENDATA_CHECK_SCRIPT, [this.keys.opendataChecks(userId)], [String(limit.limit), String(limit.windowSeconds * 1000), String(limit.now), `${limit.now}-${randomBytes(4).toString('hex')}`]),
    );
    return Number(reply) || 0;
  }

  async loginLog(userId: string): Promise<LoginLogEntry[]> {
    const entries = (await guard(() => this.redis.zrange<unknown[]>(this.keys.loginLog(userId), 0, -1))).map((e) => (typeof e === 'string' ? JSON.parse(e) : e) as LoginLogEntry);
    return entries.reverse();
  }

  async touch(sessionId: string, now: number, ttlMs: number): Promise<SessionIdentity | null> {
    const reply = await guard(() => this.redis.eval<string[], unknown>(TOUCH_SCRIPT, [this.keys.session(sessionId)], [String(now), String(ttlMs)]));
    if (!Array.isArray(reply)) return null;
    const [userId, openid, unionid, appid, home] = reply.map(String);
    if (!userId || !openid) return null;
    return { sessionId, userId, openid, ...(home ? { home } : {}), ...(unionid ? { unionid } : {}), ...(appid ? { appid } : {}) };
  }

  async revoke(sessionId: string, userId: string): Promise<boolean> {
    const tx = this.redis.multi();
    tx.del(this.keys.session(sessionId));
    tx.zrem(this.keys.userSessions(userId), sessionId);
    const [deleted] = (await guard(() => tx.exec())) as [number, number];
    // Whether the session was there to end.
    return Number(deleted) > 0;
  }

  /**
   * Emergency switch: revokes every session of every user (SCAN + DEL in batches, so Redis
   * is never blocked). Returns how many sessions were deleted.
   */
  async revokeEverything(): Promise<number> {
    let deleted = 0;
    for (const pattern of [`${this.keys.session('')}*`, `${this.keys.userSessions('')}*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await guard(() => this.redis.scan(cursor, { match: pattern, count: 500 }));
        cursor = String(next);
        if (keys.length > 0) {
          await guard(() => this.redis.del(...keys));
          if (pattern.includes(':session:')) deleted += keys.length;
        }
      } while (cursor !== '0');
    }
    return deleted;
  }

  async revokeAll(userId: string): Promise<number> {
    const indexKey = this.keys.userSessions(userId);
    const sessionIds = (await guard(() => this.redis.zrange<string[]>(indexKey, 0, -1))).map(String);
    if (sessionIds.length === 0) return 0;
    // ZREM only what was read: a login racing this logout keeps its (new) index entry.
    const tx = this.redis.multi();
    tx.del(...sessionIds.map((id) => this.keys.session(id)));
    tx.zrem(indexKey, ...sessionIds);
    await guard(() => tx.exec());
    return sessionIds.length;
  }
}

/** 'committed|1' / 'committed|0' from the commit and release scripts. */
function committedOf(reply: unknown): Committed | undefined {
  if (reply === 'committed|1' || reply === 'committed|0') return { state: 'committed', isNewUser: reply === 'committed|1' };
  return undefined;
}

async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw new AppError('SERVICE_UNAVAILABLE', 'session store request failed', { cause: err, details: { store: 'redis' } });
  }
}
