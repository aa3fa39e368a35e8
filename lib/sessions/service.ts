import { hashToken, TOKEN_PATTERN } from '../crypto';
import { AppError } from '../errors';
import type { SessionEnder, SessionIdentity, SessionPurge, SessionRevoker, SessionSummary, SessionVerifier } from './ports';
import { checkPublicSessionId } from './public-id';

export type Authorization =
  | { allowed: true; identity: SessionIdentity }
  | { allowed: false; reason: 'missing' | 'malformed' | 'unknown' };

export interface SessionServiceDeps {
  store: SessionVerifier & SessionRevoker & Pick<SessionPurge, 'sessionsOf'> & SessionEnder;
  ttlSeconds: number;
  /** The deployment's mini-program: the app of a session opened before sessions kept theirs. */
  defaultAppId?: string;
  now?: () => number;
}

const BEARER = /^Bearer +(\S+)$/i;

/**
 * What a session token is good for after login.
 *
 * authorize: `Authorization: Bearer <token>` → the session's identity, renewing it
 *   (sliding expiry, capped at the absolute max age) in the same Redis round trip.
 *   Anything else — no header, another scheme, a malformed, unknown, expired or revoked
 *   token — is refused. A store failure throws: the authorizer then lets nothing through and
 *   throws in turn (API Gateway answers 500), rather than deny a token it could not check.
 * logout: revokes the presented session, or with `all` every session of its user.
 * list / end: the user's own live sessions (GET /user/sessions), and ending one of them by its
 *   public id (DELETE /user/sessions/{id}): "sign out that phone".
 */
export class SessionService {
  private readonly now: () => number;

  constructor(private readonly deps: SessionServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  async authorize(header: string | undefined): Promise<Authorization> {
    if (!header) return { allowed: false, reason: 'missing' };
    const token = bearerToken(header);
    // Refuse what cannot be a token before touching Redis.
    if (!token || !TOKEN_PATTERN.test(token)) return { allowed: false, reason: 'malformed' };
    const identity = await this.deps.store.touch(hashToken(token), this.now(), this.deps.ttlSeconds * 1000);
    if (!identity) return { allowed: false, reason: 'unknown' };
    const appid = identity.appid ?? this.deps.defaultAppId;
    return { allowed: true, identity: appid ? { ...identity, appid } : identity };
  }

  async list(identity: Pick<SessionIdentity, 'sessionId' | 'userId'>): Promise<SessionSummary[]> {
    // Newest first (the store's order): the list a user reads to find "that phone".
    return this.deps.store.sessionsOf(identity.userId, identity.sessionId, this.now());
  }

  /** Ends one of the user's sessions (this one too, if named): SESSION_NOT_FOUND when the user has no such live session. */
  async end(identity: Pick<SessionIdentity, 'userId'>, publicId: string | undefined): Promise<void> {
    checkPublicSessionId(publicId);
    if (!(await this.deps.store.endSession(identity.userId, publicId))) throw new AppError('SESSION_NOT_FOUND');
  }

  async logout(identity: Pick<SessionIdentity, 'sessionId' | 'userId'>, all: boolean): Promise<{ revoked: number }> {
    if (all) return { revoked: await this.deps.store.revokeAll(identity.userId) };
    await this.deps.store.revoke(identity.sessionId, identity.userId);
    return { revoked: 1 };
  }
}

/** Pulls the bearer token out of a header for log scrubbing; undefined when there is none. */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header.trim())?.[1] : undefined;
}
