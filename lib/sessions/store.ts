import type { Redis } from '@upstash/redis';
import { AppError } from '../errors';

/** What the server keeps about one session. Keyed by the token's hash, never the token. */
export interface SessionRecord {
  userId: string;
  openid: string;
  unionid?: string;
  /** WeChat's session_key, sealed under a key derived from the token (see lib/crypto.ts). */
  sealedSessionKey: string;
  /** Epoch ms of the login. */
  issuedAt: number;
  /** Epoch ms after which the session is dead however much it is used (the absolute cap). */
  maxExpiresAt: number;
}

/**
 * Where a login code stands: first seen now, being exchanged elsewhere, or already done; or
 * the caller is over its rate limit and the code was not looked at.
 */
export type CodeClaim =
  | { state: 'claimed' }
  | { state: 'pending' }
  | { state: 'done'; result: string }
  | { state: 'limited'; retryAfterSeconds: number };

/** A sliding-window limit on login attempts per caller (e.g. client IP), checked with the claim. */
export interface ClaimLimit {
  /** Who is counted, e.g. the client IP. */
  caller: string;
  /** Attempts allowed per window. */
  limit: number;
  windowSeconds: number;
  now: number;
}

export interface SaveLogin {
  tokenHash: string;
  session: SessionRecord;
  ttlSeconds: number;
  codeId: string;
  /** What a retry with the same code gets back (opaque to the store). */
  codeResult: string;
  codeTtlSeconds: number;
}

/** Who a live session belongs to, as the authorizer hands it to routes. */
export interface SessionIdentity {
  /** The token's hash: names the session without being a credential. */
  sessionId: string;
  userId: string;
  openid: string;
  unionid?: string;
}

/** The port the login use case depends on. */
export interface SessionStore {
  /**
   * Atomically claims a login code for `ttlSeconds`, or says who has it; with `limit`, first
   * counts the attempt against the caller's limit. One round trip either way.
   */
  claimCode(codeId: string, ttlSeconds: number, limit?: ClaimLimit): Promise<CodeClaim>;
  /** Forgets a claim whose login failed, so the code can be tried again. */
  releaseCode(codeId: string): Promise<void>;
  /** Session, code result and the user's session index, all or nothing, in one round trip. */
  saveLogin(input: SaveLogin): Promise<void>;
}

/** The port the authorizer depends on. */
export interface SessionVerifier {
  /**
   * Looks the session up and, if it is alive, slides its expiry to `ttlMs` from `now` but
   * never past its absolute cap. One round trip. Null when there is no such live session.
   */
  touch(sessionId: string, now: number, ttlMs: number): Promise<SessionIdentity | null>;
}

/** The port logout depends on. */
export interface SessionRevoker {
  revoke(sessionId: string, userId: string): Promise<void>;
  /** Revokes every session of the user; returns how many were listed. */
  revokeAll(userId: string): Promise<number>;
}

export const PENDING = 'pending';

export function sessionKeys(prefix: string) {
  return {
    session: (tokenHash: string) => `${prefix}session:${tokenHash}`,
    code: (codeId: string) => `${prefix}code:${codeId}`,
    loginRate: (caller: string, window: number) => `${prefix}rate:login:${caller}:${window}`,
    userSessions: (userId: string) => `${prefix}user-sessions:${userId}`,
  };
}

/** Hash field names of a session record; short because every authorized request reads them. */
export const FIELDS = {
  userId: 'uid',
  openid: 'oid',
  unionid: 'uni',
  sealedSessionKey: 'sk',
  issuedAt: 'iat',
  maxExpiresAt: 'mxp',
} as const;

/** The slice of the Upstash client this adapter uses. */
export type RedisLike = Pick<Redis, 'del' | 'multi' | 'eval' | 'zrange' | 'scan'>;

/**
 * Lookup and renewal as one atomic step (one request). KEYS[1] is the session; ARGV[1] now
 * in ms, ARGV[2] the idle TTL in ms. A session past its absolute cap is deleted on sight.
 */
export const TOUCH_SCRIPT = `
local s = redis.call('HMGET', KEYS[1], '${FIELDS.userId}', '${FIELDS.openid}', '${FIELDS.unionid}', '${FIELDS.maxExpiresAt}')
if not s[1] then return false end
local left = (tonumber(s[4]) or 0) - tonumber(ARGV[1])
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[2]), left))
return {s[1], s[2], s[3] or ''}
`;

/**
 * Rate limit and claim as one atomic step (one request). KEYS: code, current window, previous
 * window. ARGV: claim TTL (s), limit, window (ms), ms elapsed in the current window.
 * The limit is a sliding window: the previous window's count, weighted by how much of it
 * still overlaps the last `window` ms, plus the current one. Refused attempts are not counted.
 */
export const CLAIM_SCRIPT = `
local limit = tonumber(ARGV[2])
if limit > 0 then
  local window = tonumber(ARGV[3])
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[3]) or '0')
  if previous * (window - tonumber(ARGV[4])) / window + current >= limit then
    return {'limited'}
  end
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], window * 2)
end
local previous = redis.call('SET', KEYS[1], '${PENDING}', 'NX', 'GET', 'EX', ARGV[1])
if not previous then return {'claimed'} end
return {'seen', previous}
`;

/**
 * Sessions and login-code claims in Upstash Redis (HTTP). Every failure becomes
 * SERVICE_UNAVAILABLE; the Upstash error itself is never logged by message, because it
 * quotes the command it failed on.
 */
export class RedisSessionStore implements SessionStore, SessionVerifier, SessionRevoker {
  private readonly keys: ReturnType<typeof sessionKeys>;
  private readonly userIndexTtlSeconds: number;

  constructor(
    private readonly redis: RedisLike,
    options: { keyPrefix: string; userIndexTtlSeconds: number },
  ) {
    this.keys = sessionKeys(options.keyPrefix);
    this.userIndexTtlSeconds = options.userIndexTtlSeconds;
  }

  async claimCode(codeId: string, ttlSeconds: number, limit?: ClaimLimit): Promise<CodeClaim> {
    const windowMs = (limit?.windowSeconds ?? 1) * 1000;
    const now = limit?.now ?? 0;
    const window = Math.floor(now / windowMs);
    const caller = limit?.caller ?? '-';
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(
        CLAIM_SCRIPT,
        [this.keys.code(codeId), this.keys.loginRate(caller, window), this.keys.loginRate(caller, window - 1)],
        [String(ttlSeconds), String(limit?.limit ?? 0), String(windowMs), String(now - window * windowMs)],
      ),
    );
    const [state, previous] = Array.isArray(reply) ? reply.map(String) : [];
    switch (state) {
      case 'claimed':
        return { state: 'claimed' };
      case 'limited':
        // The current window's end: by then the oldest attempts weigh less.
        return { state: 'limited', retryAfterSeconds: Math.max(1, Math.ceil(((window + 1) * windowMs - now) / 1000)) };
      case 'seen':
        return previous === PENDING ? { state: 'pending' } : { state: 'done', result: String(previous) };
      default:
        throw new AppError('SERVICE_UNAVAILABLE', 'unexpected reply to the claim script', { details: { store: 'redis' } });
    }
  }

  async releaseCode(codeId: string): Promise<void> {
    await guard(() => this.redis.del(this.keys.code(codeId)));
  }

  async saveLogin(input: SaveLogin): Promise<void> {
    const { session } = input;
    const sessionKey = this.keys.session(input.tokenHash);
    const indexKey = this.keys.userSessions(session.userId);
    const record: Record<string, string> = {
      [FIELDS.userId]: session.userId,
      [FIELDS.openid]: session.openid,
      [FIELDS.sealedSessionKey]: session.sealedSessionKey,
      [FIELDS.issuedAt]: String(session.issuedAt),
      [FIELDS.maxExpiresAt]: String(session.maxExpiresAt),
    };
    if (session.unionid) record[FIELDS.unionid] = session.unionid;

    // MULTI/EXEC: a session without its code result (or the reverse) is never visible.
    const tx = this.redis.multi();
    tx.hset(sessionKey, record);
    tx.expire(sessionKey, input.ttlSeconds);
    tx.set(this.keys.code(input.codeId), input.codeResult, { ex: input.codeTtlSeconds });
    // The per-user index lets "log out everywhere" find sessions without a scan: a sorted set
    // scored by each session's absolute cap, pruned of dead entries at every login, and
    // outliving every session it lists.
    tx.zadd(indexKey, { score: session.maxExpiresAt, member: input.tokenHash });
    tx.zremrangebyscore(indexKey, '-inf', session.issuedAt);
    tx.expire(indexKey, this.userIndexTtlSeconds);
    await guard(() => tx.exec());
  }

  async touch(sessionId: string, now: number, ttlMs: number): Promise<SessionIdentity | null> {
    const reply = await guard(() => this.redis.eval<string[], unknown>(TOUCH_SCRIPT, [this.keys.session(sessionId)], [String(now), String(ttlMs)]));
    if (!Array.isArray(reply)) return null;
    const [userId, openid, unionid] = reply.map(String);
    if (!userId || !openid) return null;
    return unionid ? { sessionId, userId, openid, unionid } : { sessionId, userId, openid };
  }

  async revoke(sessionId: string, userId: string): Promise<void> {
    const tx = this.redis.multi();
    tx.del(this.keys.session(sessionId));
    tx.zrem(this.keys.userSessions(userId), sessionId);
    await guard(() => tx.exec());
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

async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw new AppError('SERVICE_UNAVAILABLE', 'session store request failed', { cause: err, details: { store: 'redis' } });
  }
}
