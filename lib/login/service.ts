import { AppError } from '../errors';
import { deriveId, hashToken, newToken, open, seal } from '../crypto';
import type { Logger } from '../logger';
import type { SessionStore } from '../sessions/store';
import type { UserRepository } from '../users/repository';
import type { WechatAuth } from '../wechat/client';

export interface LoginResult {
  token: string;
  /** Seconds until the session expires if unused. */
  expiresIn: number;
  userId: string;
  isNewUser: boolean;
}

export interface LoginDeps {
  wechat: WechatAuth;
  users: UserRepository;
  sessions: SessionStore;
  newUserId: (now: Date) => string;
  session: { ttlSeconds: number; maxAgeSeconds: number };
  /** Login attempts allowed per caller (client IP) per window; limit 0 turns it off. */
  rateLimit?: { limit: number; windowSeconds: number };
  /** Told of every completed login: new user or returning. */
  onLogin?: (isNewUser: boolean) => void;
  now?: () => Date;
}

/** Callers remembered as over their limit, per container, so they cost no Redis request. */
const MAX_BLOCKED_CALLERS = 10_000;

/** WeChat codes live five minutes; a retry within that window gets the same session back. */
export const CODE_RESULT_TTL_SECONDS = 300;
/**
 * How long a claim blocks duplicates while its login runs. Longer than any login can take
 * (WeChat deadline + stores + Lambda timeout), so a claim never lapses under a live login.
 */
export const CODE_CLAIM_TTL_SECONDS = 30;
/** Suggested wait for a duplicate that arrives while the first request is still running. */
export const IN_PROGRESS_RETRY_AFTER_SECONDS = 1;

const CODE_PURPOSE = 'login-code';
export const SESSION_KEY_PURPOSE = 'session-key';

/** What a retry of the same code replays. The token inside is sealed under the code. */
interface CodeResult {
  userId: string;
  isNewUser: boolean;
  expiresAt: number;
  sealedToken: string;
}

/**
 * Logs a mini-program user in with a `wx.login()` code.
 *
 * 1. Count the attempt against the caller's rate limit and claim the code in Redis, in one
 *    round trip. Over the limit answers RATE_LIMITED; a code seen before replays its result
 *    without calling WeChat; one still in flight answers LOGIN_IN_PROGRESS.
 * 2. Exchange the code with WeChat for openid, session_key and maybe unionid.
 * 3. Upsert the user by openid in one DynamoDB UpdateItem.
 * 4. Store the new session, the code's result and the user's session index in one
 *    Redis transaction, and return the token.
 * If any step fails the claim is released, and a user row written in step 3 is put back as
 * it was (a user it created is removed), so a failed login changes nothing visible and a
 * retry starts clean: a new user still hears `isNewUser: true`.
 */
export class LoginService {
  private readonly now: () => Date;
  /** caller → epoch ms until which it is known to be over its limit. */
  private readonly blocked = new Map<string, number>();

  constructor(private readonly deps: LoginDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** @param caller who is rate limited: the client IP. */
  async login(code: string, log: Logger, caller = 'unknown'): Promise<LoginResult> {
    const { sessions, rateLimit } = this.deps;
    const codeId = deriveId(CODE_PURPOSE, code);
    const now = this.now().getTime();

    const blockedUntil = this.blocked.get(caller);
    if (blockedUntil !== undefined && blockedUntil > now) throw rateLimited(blockedUntil - now);

    const limit = rateLimit && rateLimit.limit > 0 ? { caller, ...rateLimit, now } : undefined;
    const claim = await sessions.claimCode(codeId, CODE_CLAIM_TTL_SECONDS, limit);
    if (claim.state === 'limited') {
      if (this.blocked.size >= MAX_BLOCKED_CALLERS) this.blocked.clear();
      this.blocked.set(caller, now + claim.retryAfterSeconds * 1000);
      log.warn('login rate limit reached', { caller });
      throw rateLimited(claim.retryAfterSeconds * 1000);
    }
    if (claim.state === 'pending') {
      throw new AppError('LOGIN_IN_PROGRESS', undefined, { retryAfterSeconds: IN_PROGRESS_RETRY_AFTER_SECONDS });
    }
    if (claim.state === 'done') {
      log.info('login replayed for a retried code');
      return this.replay(code, claim.result);
    }

    try {
      return await this.exchange(code, codeId, log);
    } catch (err) {
      await sessions.releaseCode(codeId).catch((releaseErr: unknown) => {
        // The claim lapses by itself after CODE_CLAIM_TTL_SECONDS; a retry meanwhile gets 409.
        log.warn('could not release login code claim', { errorCode: (releaseErr as AppError).code });
      });
      throw err;
    }
  }

  private async exchange(code: string, codeId: string, requestLog: Logger): Promise<LoginResult> {
    const { wechat, users, sessions, session: policy } = this.deps;

    const wx = await wechat.code2Session(code);
    const token = newToken();
    // From here on this request holds two more secrets: scrub them from anything it logs.
    const log = requestLog.child({}, [wx.sessionKey, token]);
    const now = this.now();
    const { user, isNewUser, receipt } = await users.recordLogin({
      openid: wx.openid,
      unionid: wx.unionid,
      newUserId: this.deps.newUserId(now),
      now,
    });

    const issuedAt = now.getTime();
    const expiresAt = issuedAt + policy.ttlSeconds * 1000;
    const result: CodeResult = {
      userId: user.userId,
      isNewUser,
      expiresAt,
      sealedToken: seal(CODE_PURPOSE, code, token),
    };
    try {
      await sessions.saveLogin({
        tokenHash: hashToken(token),
        session: {
          userId: user.userId,
          openid: user.openid,
          ...(user.unionid ? { unionid: user.unionid } : {}),
          sealedSessionKey: seal(SESSION_KEY_PURPOSE, token, wx.sessionKey),
          issuedAt,
          maxExpiresAt: issuedAt + policy.maxAgeSeconds * 1000,
        },
        ttlSeconds: policy.ttlSeconds,
        codeId,
        codeResult: JSON.stringify(result),
        codeTtlSeconds: CODE_RESULT_TTL_SECONDS,
      });
    } catch (err) {
      // No session, so no login: put the user row back as it was.
      await users.undoLogin(receipt).catch((undoErr: unknown) => {
        log.error('could not undo the user row of a failed login', { userId: user.userId, errorCode: (undoErr as AppError).code });
      });
      throw err;
    }

    log.info('login succeeded', { userId: user.userId, isNewUser, loginCount: user.loginCount });
    this.deps.onLogin?.(isNewUser);
    return { token, expiresIn: policy.ttlSeconds, userId: user.userId, isNewUser };
  }

  private replay(code: string, stored: string): LoginResult {
    let result: CodeResult;
    let token: string;
    try {
      result = JSON.parse(stored) as CodeResult;
      token = open(CODE_PURPOSE, code, result.sealedToken);
    } catch (err) {
      throw new AppError('INTERNAL', 'stored login result cannot be opened', { cause: err });
    }
    const expiresIn = Math.max(0, Math.floor((result.expiresAt - this.now().getTime()) / 1000));
    return { token, expiresIn, userId: result.userId, isNewUser: result.isNewUser };
  }
}

function rateLimited(waitMs: number): AppError {
  return new AppError('RATE_LIMITED', 'Too many login attempts from this network. Retry later.', {
    retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
  });
}
