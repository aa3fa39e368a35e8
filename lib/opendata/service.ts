import { open } from '../crypto';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import { SESSION_KEY_PURPOSE } from '../login/service';
import type { SessionIdentity } from '../sessions/ports';
import { decryptOpenData } from './decrypt';
import type { OpenDataRequest } from './request';

/**
 * The session ended between the authorizer's check and the route's read of it: the function
 * answers as the authorizer answers a dead token (403, API Gateway's body), so that a client
 * (the kit) signs in again rather than keep a token that is gone.
 */
export class SessionEnded extends Error {
  override readonly name = 'SessionEnded';
}

/** What the open-data use case needs of the session store (lib/adapters/redis-sessions.ts). */
export interface OpenDataSessions {
  /** The session's sealed session_key (none for a 公众号's or an App's), and whether WeChat already said it is stale; null when the session is gone. */
  sealedKeyOf(sessionId: string): Promise<{ sealed?: string; stale: boolean } | null>;
  /** Keeps the stale verdict, only while the session still holds `judged` (the sealed key WeChat judged). */
  markKeyStale(sessionId: string, judged: string): Promise<void>;
  /** Counts one checksession of the user's; 0 when allowed, else the seconds to wait. */
  countKeyCheck(userId: string, limit: { limit: number; windowSeconds: number; now: number }): Promise<number>;
}

export interface OpenDataDeps {
  sessions: OpenDataSessions;
  /** WeChat's checksession in the session's app (lib/adapters/wechat-session-check.ts). */
  checkKey: (appid: string | undefined) => { check(openid: string, sessionKey: string): Promise<'valid' | 'stale'> };
  /** Refuses a session of a 公众号 or an App (lib/apps.ts). */
  checkApp: (appid: string | undefined) => void;
  /** The deployment's mini-program: the watermark's AppID for a session that names none. */
  defaultAppId: string;
  /** How old a watermark may be (OPENDATA_MAX_AGE_SECONDS). */
  maxAgeSeconds: number;
  /** checksession calls per user per window (OPENDATA_CHECK_LIMIT per OPENDATA_CHECK_WINDOW_SECONDS). */
  checkLimit: { limit: number; windowSeconds: number };
  now?: () => number;
}

/**
 * POST /user/opendata: WeChat's open data (wx.getWeRunData, wx.getShareInfo,
 * wx.getGroupEnterInfo, the chat tool's) decrypted with the caller's session's session_key.
 *
 * 1. The session's key, opened with the caller's token (it is sealed under it). A 公众号's or
 *    an App's session has none: OPENDATA_UNSUPPORTED.
 * 2. AES-128-CBC. Decrypted, the watermark must be this app's and recent (OPENDATA_INVALID
 *    otherwise: another app's data, or an old capture replayed).
 * 3. A decryption that fails looks like a stale key (a wx.login the server never saw replaced
 *    it): WeChat is asked (checksession, within the user's limit), and answers
 *    SESSION_KEY_EXPIRED (the kit logs in again for a fresh key) or OPENDATA_INVALID. A stale
 *    verdict is kept on the session, so its next failure asks no one.
 *
 * Neither the key nor the data is ever logged.
 */
export class OpenDataService {
  private readonly now: () => number;

  constructor(private readonly deps: OpenDataDeps) {
    this.now = deps.now ?? Date.now;
  }

  async read(user: SessionIdentity, token: string, request: OpenDataRequest, log: Logger): Promise<Record<string, unknown>> {
    this.deps.checkApp(user.appid);
    const stored = await this.deps.sessions.sealedKeyOf(user.sessionId);
    // Ended between the authorizer's check and this read: answered as the authorizer answers a dead token.
    if (!stored) throw new SessionEnded();
    if (!stored.sealed) throw new AppError('OPENDATA_UNSUPPORTED');
    let sessionKey: string;
    try {
      sessionKey = open(SESSION_KEY_PURPOSE, token, stored.sealed);
    } catch {
      // Sealed under another token: not this session's (never the case for a live one).
      throw new SessionEnded();
    }
    const appid = user.appid ?? this.deps.defaultAppId;
    const result = decryptOpenData({ sessionKey, ...request, appid, now: this.now(), maxAgeSeconds: this.deps.maxAgeSeconds });
    if (result.ok) return result.data;
    if (result.reason === 'wrong-app') throw new AppError('OPENDATA_INVALID', 'The data is not this mini-program’s (its watermark names another AppID).');
    if (result.reason === 'too-old') throw new AppError('OPENDATA_INVALID', `The data's watermark is older than ${this.deps.maxAgeSeconds} s, or more than a minute ahead of the server's clock: call the wx API again.`);
    if (result.reason === 'no-watermark') throw new AppError('OPENDATA_INVALID', 'The data carries no watermark: it is not a wx API’s.');

    // Undecryptable: a stale key, or data that is not a wx API's. WeChat tells which.
    if (stored.stale) throw new AppError('SESSION_KEY_EXPIRED');
    // The session's app first (UNKNOWN_APP for one no longer served), before a check is counted.
    const checker = this.deps.checkKey(user.appid);
    const wait = await this.deps.sessions.countKeyCheck(user.userId, { ...this.deps.checkLimit, now: this.now() });
    if (wait > 0) {
      log.warn('open data: checksession limit reached', { userId: user.userId });
      throw new AppError('RATE_LIMITED', 'Too many open-data requests that could not be decrypted. Retry later.', { retryAfterSeconds: wait });
    }
    const verdict = await checker.check(user.openid, sessionKey);
    log.info('open data could not be decrypted: WeChat asked', { verdict });
    if (verdict === 'valid') throw new AppError('OPENDATA_INVALID');
    await this.deps.sessions.markKeyStale(user.sessionId, stored.sealed).catch((err: unknown) => {
      log.warn('could not keep the stale verdict on the session', { errorCode: (err as AppError).code });
    });
    throw new AppError('SESSION_KEY_EXPIRED');
  }
}
