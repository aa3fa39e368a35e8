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

/** Where a login code stands: first seen now, being exchanged elsewhere, or already done. */
export type CodeClaim = { state: 'claimed' } | { state: 'pending' } | { state: 'done'; result: string };

export interface SaveLogin {
  tokenHash: string;
  session: SessionRecord;
  ttlSeconds: number;
  codeId: string;
  /** What a retry with the same code gets back (opaque to the store). */
  codeResult: string;
  codeTtlSeconds: number;
}

/** The port the login use case depends on. */
export interface SessionStore {
  /** Atomically claims a login code for `ttlSeconds`, or says who has it. One round trip. */
  claimCode(codeId: string, ttlSeconds: number): Promise<CodeClaim>;
  /** Forgets a claim whose login failed, so the code can be tried again. */
  releaseCode(codeId: string): Promise<void>;
  /** Session, code result and the user's session index, all or nothing, in one round trip. */
  saveLogin(input: SaveLogin): Promise<void>;
}

export const PENDING = 'pending';

export function sessionKeys(prefix: string) {
  return {
    session: (tokenHash: string) => `${prefix}session:${tokenHash}`,
    code: (codeId: string) => `${prefix}code:${codeId}`,
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
export type RedisLike = Pick<Redis, 'set' | 'del' | 'multi'>;

/**
 * Sessions and login-code claims in Upstash Redis (HTTP). Every failure becomes
 * SERVICE_UNAVAILABLE; the Upstash error itself is never logged by message, because it
 * quotes the command it failed on.
 */
export class RedisSessionStore implements SessionStore {
  private readonly keys: ReturnType<typeof sessionKeys>;
  private readonly userIndexTtlSeconds: number;

  constructor(
    private readonly redis: RedisLike,
    options: { keyPrefix: string; userIndexTtlSeconds: number },
  ) {
    this.keys = sessionKeys(options.keyPrefix);
    this.userIndexTtlSeconds = options.userIndexTtlSeconds;
  }

  async claimCode(codeId: string, ttlSeconds: number): Promise<CodeClaim> {
    // SET NX GET: sets only if absent and returns what was there, so claim and lookup are one command.
    const previous = await guard(() =>
      this.redis.set<string>(this.keys.code(codeId), PENDING, { nx: true, get: true, ex: ttlSeconds }),
    );
    if (previous === null || previous === undefined) return { state: 'claimed' };
    if (previous === PENDING) return { state: 'pending' };
    return { state: 'done', result: String(previous) };
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
    // The per-user index lets "log out everywhere" find sessions without a scan. It outlives
    // every session it lists, since none can live past the absolute cap after its login.
    tx.sadd(indexKey, input.tokenHash);
    tx.expire(indexKey, this.userIndexTtlSeconds);
    await guard(() => tx.exec());
  }
}

async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw new AppError('SERVICE_UNAVAILABLE', 'session store request failed', { cause: err, details: { store: 'redis' } });
  }
}
