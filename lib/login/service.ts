import type { AppKind } from '../apps';
import { AppError } from '../errors';
import { deriveId, hashToken, newToken, open, seal } from '../crypto';
import type { Logger } from '../logger';
import type { CodeAttempt, CommitOutcome, Release, SessionStore } from '../sessions/ports';
import { AccountBeingDeleted, type User, type UserRepository } from '../users/ports';
import type { WechatAuth } from './ports';
import { maskedNetwork } from './request';

export interface LoginResult {
  token: string;
  /** Seconds until the session expires if unused. */
  expiresIn: number;
  userId: string;
  isNewUser: boolean;
}

/** Who is logging in, as far as a replay of the code's result is bound to them. */
export interface LoginClient {
  /** The caller's network: an IPv4 address or an IPv6 /64 (see `clientNetwork`). */
  network: string;
  /** The X-Login-Proof the client sent with this attempt, if any. Never stored, only its digest. */
  proof?: string;
  /** The mini-program the client says the code comes from; none: the deployment's own. */
  appid?: string;
  /** A short summary of the client's User-Agent (`agentSummary`), kept with the session and in the login log. */
  agent?: string;
}

export interface LoginDeps {
  /**
   * The default app's exchange: a login that names no appid, or `appId`, is for it. None where
   * several apps of the route's kind are served (each login names its own) or none at all.
   */
  wechat?: WechatAuth;
  /** The exchange of each other app of the route's kind this deployment serves, by AppID (lib/apps.ts). */
  moreApps?: ReadonlyMap<string, WechatAuth>;
  /** The kind of app this login serves (kept on each new identity's row): `miniprogram` by default. */
  kind?: AppKind;
  users: UserRepository;
  sessions: SessionStore;
  /** A fresh ULID: the new user's id, and each login request's own id. */
  newId: (now: Date) => string;
  /** The default mini-program's AppID, kept with each session it opens (the authorizer hands it to routes). */
  appId?: string;
  session: { ttlSeconds: number; maxAgeSeconds: number };
  /** Login attempts allowed per caller (client network) per window; limit 0 turns it off. */
  rateLimit?: { limit: number; windowSeconds: number };
  /** Told of every completed login: new user or returning. */
  onLogin?: (isNewUser: boolean) => void;
  /** Told when a login's commit may or may not have landed (its answer and the release's were lost): its login log entry is unknown. */
  onLoginUnrecorded?: () => void;
  /** Told when a login's unionid is held by another user than its identity's (recorded, not merged). */
  onUnionConflict?: () => void;
  /** Rows created before this (ISO) keep the old isNewUser rule; WELCOME_MARKS_SINCE by default. */
  welcomeMarksSince?: string;
  /**
   * Finishes a deletion that was interrupted (lib/account/): the login met the account's
   * tombstone, and this WeChat user may only start a new identity once the old one is gone.
   */
  finishDeletion?: (owner: { userId: string; openid: string }, log: Logger) => Promise<void>;
  now?: () => Date;
}

/** Callers remembered as over their limit, per container, so they cost no Redis request. */
const MAX_BLOCKED_CALLERS = 10_000;

/** WeChat codes live five minutes; a retry within that window gets the same session back. */
export const CODE_RESULT_TTL_SECONDS = 300;
/**
 * How long a claim blocks other clients while its login runs. Longer than any login can take
 * (WeChat deadline + stores + Lambda timeout), so a claim never lapses under a live login.
 * The same client's retry does not wait for it: it takes the claim over.
 */
export const CODE_CLAIM_TTL_SECONDS = 30;
/** Suggested wait for a duplicate that arrives while another request holds the code. */
export const IN_PROGRESS_RETRY_AFTER_SECONDS = 1;

const CODE_PURPOSE = 'login-code';
const PROOF_PURPOSE = 'login-proof';
export const SESSION_KEY_PURPOSE = 'session-key';

/** X-Login-Proof: 22–64 base64url characters (at least 128 random bits). */
export const PROOF_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;

/**
 * Users created before this moment were told isNewUser by the rule of their time (the login
 * that counted 1), and keep that rule: they have no welcome mark. Rows created since are new
 * until a commit is told so (see `newUserOf`).
 */
export const WELCOME_MARKS_SINCE = '2026-12-05T00:00:00.000Z';

/** What a retry of the same code replays, and to whom. The token inside is sealed under the code. */
interface CodeResult {
  userId: string;
  /** Only in results stored before the commit told isNewUser beside them. */
  isNewUser?: boolean;
  expiresAt: number;
  sealedToken: string;
  /** Digest of the first request's X-Login-Proof, or '' when it sent none. */
  proof: string;
  /** The first request's network: a replay without a proof must come from it. */
  network: string;
}

/**
 * Logs a mini-program user in with a `wx.login()` code.
 *
 * 1. Count the attempt against the caller's rate limit and claim the code in Redis, in one
 *    round trip. Over the limit answers RATE_LIMITED; a code done before replays its result
 *    to the client that made it (and only to it) without calling WeChat; a code another
 *    client holds answers LOGIN_IN_PROGRESS.
 * 2. Exchange the code with WeChat for openid, session_key and maybe unionid.
 * 3. Upsert the user by openid in one DynamoDB UpdateItem, tagged with this request's id.
 * 4. Commit the session, the code's result and the user's session index in one Redis
 *    script, which writes only while this request still holds its claim. That is the
 *    moment the login happens; everything before it can be taken back. The same script tells
 *    whether this is the user's first successful login (see `newUserOf`).
 * Any failure releases the claim, which also fences it: a claim or commit of this request
 * that reaches Redis late finds it released and writes nothing. If the commit's answer was
 * lost, the release finds it committed and the login succeeds after all. Otherwise the user
 * row's write is undone (fenced, then reverted), so a failed login changes no count and a
 * new user still hears `isNewUser: true` on the next attempt.
 */
export class LoginService {
  private readonly now: () => Date;
  /** caller → epoch ms until which it is known to be over its limit. */
  private readonly blocked = new Map<string, number>();

  constructor(private readonly deps: LoginDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async login(code: string, log: Logger, client: LoginClient = { network: 'unknown' }): Promise<LoginResult> {
    const { sessions, rateLimit } = this.deps;
    // A code of a mini-program this deployment does not serve would only be refused by WeChat
    // (40029), after a claim: answered at once, before any store or WeChat call.
    const app = this.appOf(client.appid);
    const now = this.now();
    const attempt: CodeAttempt = {
      // A code is WeChat's for one app: another app's code is another claim (the default
      // mini-program's keeps the key it always had, so a retry across an upgrade finds its claim).
      codeId: deriveId(CODE_PURPOSE, (this.deps.kind ?? 'miniprogram') === 'miniprogram' && (app.appId === undefined || app.appId === this.deps.appId) ? code : `${app.appId}|${code}`),
      loginId: this.deps.newId(now),
      proofHash: client.proof ? deriveId(PROOF_PURPOSE, client.proof) : '',
    };
    const caller = client.network;

    const blockedUntil = this.blocked.get(caller);
    if (blockedUntil !== undefined && blockedUntil > now.getTime()) throw rateLimited(blockedUntil - now.getTime());

    const limit = rateLimit && rateLimit.limit > 0 ? { caller, ...rateLimit, now: now.getTime() } : undefined;
    let claim;
    try {
      claim = await sessions.claimCode(attempt, CODE_CLAIM_TTL_SECONDS, limit);
    } catch (err) {
      // The claim may have landed with its answer lost: let go of it, so the retry is free.
      await this.release(attempt, log);
      throw err;
    }
    if (claim.state === 'limited') {
      if (this.blocked.size >= MAX_BLOCKED_CALLERS) this.blocked.clear();
      this.blocked.set(caller, now.getTime() + claim.retryAfterSeconds * 1000);
      log.warn('login rate limit reached', { caller });
      throw rateLimited(claim.retryAfterSeconds * 1000);
    }
    if (claim.state === 'pending') {
      throw new AppError('LOGIN_IN_PROGRESS', undefined, { retryAfterSeconds: IN_PROGRESS_RETRY_AFTER_SECONDS });
    }
    if (claim.state === 'spent') {
      // Its session ended (logout, revocation, expiry, a suspension): a replay would hand out a
      // dead token. A suspended user's is told so, as a fresh login would be.
      const userId = userOf(claim.result);
      const suspension = userId ? await sessions.suspension(userId) : null;
      if (suspension) throw suspended(suspension.until);
      log.info('login code replayed after its session ended: refused', { caller });
      throw new AppError('INVALID_CODE');
    }
    if (claim.state === 'done') return this.replay(code, claim.result, claim.isNewUser, attempt, caller, log);

    return this.exchange(code, app, attempt, client, log);
  }

  /** The app a login is for: the one it names, or the default; UNKNOWN_APP for one not served. */
  private appOf(appid: string | undefined): { appId: string | undefined; wechat: WechatAuth } {
    const { wechat, appId, moreApps } = this.deps;
    const kind = this.deps.kind ?? 'miniprogram';
    if (wechat && (appid === undefined || appid === appId || (appId === undefined && !moreApps?.size))) return { appId, wechat };
    const other = appid === undefined ? undefined : moreApps?.get(appid);
    if (other) return { appId: appid, wechat: other };
    if (appid === undefined) {
      throw moreApps?.size
        ? new AppError('INVALID_REQUEST', `"appid" is required: this service serves several apps of kind ${kind}.`)
        : new AppError('UNKNOWN_APP', `This service serves no app of kind ${kind}: add one to WECHAT_APPS (docs/identities.md).`);
    }
    throw new AppError('UNKNOWN_APP', `This service does not serve the ${kind} ${appid}: add it to WECHAT_APPS (docs/identities.md).`);
  }

  private async exchange(code: string, app: { appId: string | undefined; wechat: WechatAuth }, attempt: CodeAttempt, client: LoginClient, requestLog: Logger): Promise<LoginResult> {
    const { users, sessions, session: policy } = this.deps;
    const { network } = client;
    const { wechat } = app;

    let wx;
    try {
      wx = await wechat.code2Session(code);
    } catch (err) {
      await this.release(attempt, requestLog);
      throw err;
    }
    if (wx.snapshot) {
      // A 公众号 snapshot page's visitor (快照页): a virtual openid and unionid, no one to sign
      // in. Refused before any lookup or claim, so nothing is made for them.
      await this.release(attempt, requestLog);
      requestLog.info('snapshot-page visitor refused');
      throw new AppError('SNAPSHOT_USER');
    }
    const token = newToken();
    // From here on this request holds two more secrets: scrub them from anything it logs.
    // (Both are made by us or by WeChat, never chosen by the client.)
    const log = requestLog.child({}, wx.sessionKey ? [wx.sessionKey, token] : [token]);
    const now = this.now();
    // `landed`: whether this login saw its row write applied (then a row that is gone was deleted).
    const undo = async (landed: boolean) => {
      await users.undoLogin(wx.openid, attempt.loginId, landed).catch((undoErr: unknown) => {
        log.error('could not undo the user row of a failed login', { errorCode: (undoErr as AppError).code });
      });
    };

    const record = () =>
      users.recordLogin({
        openid: wx.openid,
        ...(app.appId ? { appid: app.appId } : {}),
        kind: this.deps.kind ?? 'miniprogram',
        unionid: wx.unionid,
        newUserId: this.deps.newId(now),
        loginId: attempt.loginId,
        now,
      });
    let recorded;
    try {
      try {
        recorded = await record();
      } catch (err) {
        if (!(err instanceof AccountBeingDeleted) || !this.deps.finishDeletion) throw err;
        // The user deleted their account and its deletion did not finish: finish it, then
        // this login is a new user's.
        log.warn('login met an unfinished account deletion: finishing it first', { userId: err.userId });
        await this.deps.finishDeletion({ userId: err.userId, openid: wx.openid }, log);
        recorded = await record();
      }
    } catch (err) {
      // The write may still land: release the code, then fence and revert the write.
      await this.release(attempt, log);
      if (err instanceof AccountBeingDeleted) {
        // Nothing of ours was written to the tombstone; its deletion is to be finished first.
        throw new AppError('SERVICE_UNAVAILABLE', 'the account is being deleted', { retryAfterSeconds: 1 });
      }
      await undo(false);
      throw err;
    }
    const { user, conflict } = recorded;
    /** Takes a secondary identity off the user again (a refused commit), logged when it cannot. */
    const dropIdentity = (which: string) =>
      users.dropIdentity({ userId: user.userId, openid: user.openid }).catch((err: unknown) => {
        log.error(`could not drop the identity ${which}`, { errorCode: (err as AppError).code });
      });
    if (conflict && !conflict.known) {
      // Nothing merged: the operator decides (npm run users -- merge, docs/identities.md).
      log.warn('unionid held by another user: signed in as the identity’s own user, pair recorded for the operator', { userId: user.userId, holder: conflict.holder });
      this.deps.onUnionConflict?.();
    }
    const newUser = this.newUserOf(user);

    const issuedAt = now.getTime();
    const expiresAt = issuedAt + policy.ttlSeconds * 1000;
    const result: CodeResult = {
      userId: user.userId,
      expiresAt,
      sealedToken: seal(CODE_PURPOSE, code, token),
      proof: attempt.proofHash,
      network,
    };
    const succeeded = (isNewUser: boolean): LoginResult => {
      log.info('login succeeded', { userId: user.userId, isNewUser, loginCount: user.loginCount });
      this.deps.onLogin?.(isNewUser);
      return { token, expiresIn: policy.ttlSeconds, userId: user.userId, isNewUser };
    };

    let committed: CommitOutcome;
    try {
      committed = await sessions.commitLogin({
        attempt,
        tokenHash: hashToken(token),
        session: {
          userId: user.userId,
          openid: user.openid,
          ...(user.home ? { home: user.home } : {}),
          ...(user.unionid ? { unionid: user.unionid } : {}),
          ...(app.appId ? { appid: app.appId } : {}),
          // What the user's list of sessions and the login log show: never the full address.
          network: maskedNetwork(network),
          ...(client.agent ? { agent: client.agent } : {}),
          // A mini-program's session_key; an OAuth login (a 公众号 page, an App) has none.
          ...(wx.sessionKey ? { sealedSessionKey: seal(SESSION_KEY_PURPOSE, token, wx.sessionKey) } : {}),
          issuedAt,
          maxExpiresAt: issuedAt + policy.maxAgeSeconds * 1000,
        },
        ttlSeconds: policy.ttlSeconds,
        codeResult: JSON.stringify(result),
        codeTtlSeconds: CODE_RESULT_TTL_SECONDS,
        newUser,
      });
    } catch (err) {
      // Did the commit land? The release answers that, and fences it if it did not.
      const release = await this.release(attempt, log);
      if (release.state === 'committed') {
        log.warn('login committed though its answer was lost');
        return succeeded(release.isNewUser);
      }
      // Unknown (the release failed too): a session may exist, so the row stays counted; and
      // whether the login log has its entry (written by the same commit) is unknown: counted.
      if (release.state !== 'unknown') await undo(true);
      else this.deps.onLoginUnrecorded?.();
      throw err;
    }
    if (committed.state === 'deleted') {
      // This user's deletion started after our user write: no session for them. The retry
      // finds the row tombstoned and starts a new identity once the deletion is finished.
      await this.release(attempt, log);
      await undo(true);
      // An identity of another app that joined the user as its deletion listed them (docs/identities.md):
      // it goes now, so the retry starts a new user rather than meeting the deleted one again.
      if (user.home) await dropIdentity('of a deleted user');
      log.warn('login commit refused: the user is being deleted');
      throw new AppError('SERVICE_UNAVAILABLE', 'the user is being deleted', { retryAfterSeconds: 1 });
    }
    if (committed.state === 'suspended') {
      // An operator suspended the user (lib/users/suspension.ts): no session, no login counted,
      // and no app joined: an identity this attempt added to the user (its row's first login) goes.
      await this.release(attempt, log);
      await undo(true);
      if (user.home && user.loginCount === 1) await dropIdentity('a refused login joined');
      log.info('login refused: the user is suspended', { userId: user.userId });
      throw suspended(committed.until);
    }
    if (committed.state === 'merged') {
      // The operator merged this user into another (lib/users/merge.ts). No session for the
      // user that is gone: the retry signs in the one it was merged into, once this identity
      // is moved there. The merge moves it; an identity the merge's listing missed (it joined
      // in that moment) is moved here, as the merge would.
      await this.release(attempt, log);
      await undo(true);
      if (user.home) {
        await users.moveIdentity({ userId: user.userId, openid: user.openid }, committed.into).catch((err: unknown) => {
          log.error('could not move the identity of a merged user', { errorCode: (err as AppError).code });
        });
      }
      log.warn('login commit refused: the user was merged into another', { userId: user.userId, into: committed.into.userId });
      throw new AppError('SERVICE_UNAVAILABLE', 'the account is being merged', { retryAfterSeconds: 1 });
    }
    if (committed.state === 'fenced') {
      // This request gave up its claim, or the same client's retry took it over: that retry
      // owns the login now.
      await undo(true);
      log.warn('login commit refused: the code is held by a newer attempt');
      throw new AppError('LOGIN_IN_PROGRESS', 'A newer attempt with this code holds it.', { retryAfterSeconds: IN_PROGRESS_RETRY_AFTER_SECONDS });
    }
    return succeeded(committed.isNewUser);
  }

  /**
   * Is this login the user's first successful one? "Never had a successful login" is what
   * makes a user new, and only the commit knows a login succeeded; the user row's count does
   * not (a login whose write landed but whose session was never issued may not be taken back
   * when its undo fails too). So the login asks the commit, which answers from the user's
   * welcome mark in Redis, setting it in the same step (no round trip of its own): exactly one
   * commit per user is told true. Rows from before the marks keep their old rule.
   */
  private newUserOf(user: User): boolean | 'ask' {
    if (user.createdAt < (this.deps.welcomeMarksSince ?? WELCOME_MARKS_SINCE)) return user.loginCount === 1;
    return 'ask';
  }

  /** Lets go of the claim; 'unknown' when Redis could not be asked (the claim then lapses on its own). */
  private async release(attempt: CodeAttempt, log: Logger): Promise<Release | { state: 'unknown' }> {
    try {
      return await this.deps.sessions.releaseCode(attempt, CODE_RESULT_TTL_SECONDS);
    } catch (err) {
      log.warn('could not release login code claim', { errorCode: (err as AppError).code });
      return { state: 'unknown' };
    }
  }

  private replay(code: string, stored: string, isNewUser: boolean | undefined, attempt: CodeAttempt, network: string, log: Logger): LoginResult {
    let result: CodeResult;
    try {
      result = JSON.parse(stored) as CodeResult;
    } catch (err) {
      throw new AppError('INTERNAL', 'stored login result cannot be read', { cause: err });
    }
    // A used code is a session only for the client that used it: the same proof from any
    // network (a phone moving from Wi-Fi to 4G), or, for a client that sent none, the same network.
    const sameClient = result.proof ? attempt.proofHash === result.proof : attempt.proofHash === '' && network === result.network;
    if (!sameClient) {
      log.warn('login code replayed by another client: refused', { caller: network, userId: result.userId, proofSent: attempt.proofHash !== '' });
      throw new AppError('INVALID_CODE');
    }
    let token: string;
    try {
      token = open(CODE_PURPOSE, code, result.sealedToken);
    } catch (err) {
      throw new AppError('INTERNAL', 'stored login result cannot be opened', { cause: err });
    }
    log.info('login replayed for a retried code', { caller: network, userId: result.userId });
    const expiresIn = Math.max(0, Math.floor((result.expiresAt - this.now().getTime()) / 1000));
    return { token, expiresIn, userId: result.userId, isNewUser: isNewUser ?? result.isNewUser ?? false };
  }
}

/** 403 ACCOUNT_SUSPENDED, with the end time if there is one (never the reason). */
export function suspended(until: number | undefined): AppError {
  return new AppError('ACCOUNT_SUSPENDED', undefined, until ? { answer: { until: new Date(until).toISOString() } } : {});
}

/** The userId a stored code result answered, if it can be read. */
function userOf(result: string | undefined): string | undefined {
  try {
    const parsed = result ? (JSON.parse(result) as { userId?: unknown }) : undefined;
    return typeof parsed?.userId === 'string' ? parsed.userId : undefined;
  } catch {
    return undefined;
  }
}

function rateLimited(waitMs: number): AppError {
  return new AppError('RATE_LIMITED', 'Too many login attempts from this network. Retry later.', {
    retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
  });
}
