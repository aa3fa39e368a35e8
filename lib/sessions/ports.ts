/**
 * The ports over sessions and login codes that the use cases depend on;
 * lib/adapters/redis-sessions.ts implements them over Upstash Redis.
 */

/** What the server keeps about one session. Keyed by the token's hash, never the token. */
export interface SessionRecord {
  userId: string;
  /** The identity's openid (the app's, for WeChat's calls). */
  openid: string;
  /** The openid of the user's home row, when not the identity's own (docs/identities.md). */
  home?: string;
  /** The client's network at the login, masked (IPv4 /24, IPv6 /48): for the user's list of sessions. */
  network?: string;
  /** A short summary of the client's user agent at the login. */
  agent?: string;
  unionid?: string;
  /** The mini-program (its AppID) the session was opened from; sessions opened before it was kept have none. */
  appid?: string;
  /** WeChat's session_key, sealed under a key derived from the token (see lib/crypto.ts); an OAuth login's session has none. */
  sealedSessionKey?: string;
  /** Epoch ms of the login. */
  issuedAt: number;
  /** Epoch ms after which the session is dead however much it is used (the absolute cap). */
  maxExpiresAt: number;
}

/** One login request's hold on a code. */
export interface CodeAttempt {
  /** Digest of the login code (never the code). */
  codeId: string;
  /**
   * This request's own id (a ULID, so later attempts sort later). It names the request's
   * claim, its user-row write and its commit, so that each of them can be recognised when it
   * is sent again or arrives late, and refused once the request has given up.
   */
  loginId: string;
  /** Digest of the client's X-Login-Proof; '' when it sent none. */
  proofHash: string;
}

/**
 * Where a login code stands: claimed by this request now, held by another request, or
 * already done; or the caller is over its rate limit and the code was not looked at.
 */
export type CodeClaim =
  | { state: 'claimed' }
  | { state: 'pending' }
  | { state: 'done'; result: string; /** Told by the commit (absent for a result stored before it was). */ isNewUser?: boolean }
  /** Done, but its session has ended since (logout, revocation, expiry, suspension): a spent code, and what it had answered. */
  | { state: 'spent'; result?: string }
  | { state: 'limited'; retryAfterSeconds: number };

/** A sliding-window limit on login attempts per caller (e.g. client network), checked with the claim. */
export interface ClaimLimit {
  /** Who is counted: the client's IPv4 address or IPv6 /64. */
  caller: string;
  /** Attempts allowed per window. */
  limit: number;
  windowSeconds: number;
  now: number;
}

export interface CommitLogin {
  attempt: Pick<CodeAttempt, 'codeId' | 'loginId'>;
  tokenHash: string;
  session: SessionRecord;
  ttlSeconds: number;
  /** What a retry with the same code gets back (opaque to the store). */
  codeResult: string;
  codeTtlSeconds: number;
  /**
   * Whether this is the user's first successful login: known (true/false) when the user row
   * says so, or 'ask' the store, which answers it atomically with the commit from the user's
   * welcome mark (set by the first commit that is told so): exactly one commit per user is.
   */
  newUser: boolean | 'ask';
}

/** A login committed: its session exists, and whether it was the user's first. */
export interface Committed {
  state: 'committed';
  isNewUser: boolean;
}

/** What a commit did: committed (now, or by an earlier copy), or nothing (fenced, or the user is being deleted). */
export type CommitOutcome =
  | Committed
  | { state: 'fenced' }
  | { state: 'deleted' }
  /** The user was merged into another (lib/users/merge.ts): who, and that user's home row. */
  | { state: 'merged'; into: { userId: string; home: string } }
  /** The user is suspended (lib/users/suspension.ts), until then (epoch ms) or until lifted. */
  | { state: 'suspended'; until?: number };

/**
 * What became of a request's claim once it let go of it: it was committed after all (the
 * commit's answer was lost), it is released now (nothing of this request can land any more),
 * or another request of the same client holds the code.
 */
export type Release = Committed | { state: 'released' } | { state: 'taken' };

/** Who a live session belongs to, as the authorizer hands it to routes. */
export interface SessionIdentity {
  /** The token's hash: names the session without being a credential. */
  sessionId: string;
  userId: string;
  /** The identity's openid, in the session's app: what WeChat's calls for this user take. */
  openid: string;
  /**
   * The key of the user's home row in the users table, which holds the phone number and the
   * profile, when it is not `openid`'s own row (a second app's identity: docs/identities.md).
   */
  home?: string;
  unionid?: string;
  /** The mini-program (AppID) the session was opened from: the stored one, else the deployment's own. */
  appid?: string;
}

/** The port the login use case depends on. */
export interface SessionStore {
  /** The user's suspension as it stands (the mark), or null. */
  suspension(userId: string): Promise<{ until?: number; since: number } | null>;
  /**
   * Atomically claims a login code for `ttlSeconds`, or says who has it; with `limit`, first
   * counts the attempt against the caller's limit. One round trip either way. A claim held by
   * an earlier attempt of the same client (same proof) is taken over: that attempt has ended,
   * or will be refused at its commit.
   */
  claimCode(attempt: CodeAttempt, ttlSeconds: number, limit?: ClaimLimit): Promise<CodeClaim>;
  /**
   * Session, code result and the user's session index, all or nothing, in one round trip, if
   * this request still holds its claim; 'fenced' (nothing written) if it does not.
   */
  commitLogin(input: CommitLogin): Promise<CommitOutcome>;
  /**
   * Lets go of a claim whose login failed, so the code can be tried again, and fences it: a
   * claim or commit of this request that arrives later finds it released and does nothing.
   */
  releaseCode(attempt: Pick<CodeAttempt, 'codeId' | 'loginId'>, ttlSeconds: number): Promise<Release>;
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
  /** Ends the session; whether it was live. */
  revoke(sessionId: string, userId: string): Promise<boolean>;
  /** Revokes every session of the user; returns how many were listed. */
  revokeAll(userId: string): Promise<number>;
}

/**
 * A live session as the user's list, an export and the operator show it: never its token, nor
 * its hash (the key that names it in Redis), but a public id derived from it (lib/sessions/public-id.ts).
 */
export interface SessionSummary {
  /** What DELETE /user/sessions/{id} and `npm run users -- revoke <userId> --session <id>` take. */
  id: string;
  /** This request's own session. */
  current: boolean;
  createdAt: string;
  /** The last authorized request, as fresh as the authorizer's cache lets it be (its lookups write it). */
  lastUsedAt: string;
  /** The app it was opened from. */
  appid?: string;
  /** The client's network at the login, masked (IPv4 /24, IPv6 /48). */
  network?: string;
  /** A short summary of the client's user agent at the login. */
  agent?: string;
  /** When it ends if left unused (slid on every use, never past its absolute cap). */
  expiresAt: string;
  /** When it ends however much it is used. */
  maxExpiresAt: string;
}

/** The port account deletion and export depend on. */
export interface SessionPurge {
  /**
   * Marks the user deleted, or merged into another (`mergedInto`, lib/users/merge.ts), and removes
   * every session and stored code result of theirs; returns how many sessions. No login commits
   * a session for the user from then on: the commit answers 'deleted', or 'merged' and whom into.
   */
  purgeUser(userId: string, phoneKeys: { index: string; others: string[] }, mergedInto?: { userId: string; home: string }): Promise<number>;
  sessionsOf(userId: string, currentSessionId: string, now: number): Promise<SessionSummary[]>;
  /** Ends the sessions the user opened through one app (an App's grant withdrawn); returns how many. */
  revokeAppSessions(userId: string, appid: string): Promise<number>;
  /** The user's login log, newest first. */
  loginLog(userId: string): Promise<LoginLogEntry[]>;
  /** Replaces a live session's sealed session_key (and forgets a stale verdict): a fresh code's exchange gave a new one. */
  resealKey?(sessionId: string, sealed: string): Promise<void>;
}

/** Ending one session of a user by its public id: false when the user has no such live session. */
export interface SessionEnder {
  endSession(userId: string, publicId: string): Promise<boolean>;
}

/**
 * One login attempt that reached a known user (a success, or ACCOUNT_SUSPENDED), as the user's
 * export and the operator's `show` list them. WeChat's refusals name no user: metrics only.
 */
export interface LoginLogEntry {
  /** The login attempt's id. */
  id?: string;
  at: string;
  appid?: string;
  network?: string;
  agent?: string;
  /** 'success', or the error code the login answered. */
  result: string;
  /** The public id of the session it opened. */
  session?: string;
}

