import { AppError } from '../errors';
import type { Holder } from '../phone/service';
import type { LoginLogEntry, SessionPurge, SessionSummary } from '../sessions/ports';
import type { AccountRows, Identity, User, UserReader } from '../users/ports';

/** What `GET /user/me/export` answers: everything stored about the user, no token or secret. */
export type AccountExport = { exportedAt: string } & Pick<User, 'userId' | 'openid' | 'unionid' | 'createdAt' | 'lastLoginAt' | 'loginCount' | 'nickname' | 'phone'> & {
  /** The avatar as its CDN URL, not its object key. */
  avatarUrl?: string;
  sessions: SessionSummary[];
  /** The login log (docs/operators.md), newest first: each attempt's time, app, masked network, agent and result. */
  logins: LoginLogEntry[];
  /** Every identity of the user (docs/identities.md): each app's openid, and its logins. */
  identities: Identity[];
};

/**
 * `GET /user/me/export`: everything stored about the user, from the row and Redis: ids,
 * profile, phone, timestamps, the live sessions and the login log (never a token, a token's
 * hash or a session_key).
 */
export async function exportAccount(
  deps: { users: Pick<AccountRows, 'readAccount'> & Pick<UserReader, 'identitiesOf'>; sessions: Pick<SessionPurge, 'sessionsOf' | 'loginLog'>; avatarUrlOf?: (key: string) => string; now?: () => Date },
  user: Holder & { sessionId: string; home?: string },
): Promise<AccountExport> {
  const now = deps.now?.() ?? new Date();
  // The user's data is on its home row; its identities come from the index.
  const [row, listed] = await Promise.all([deps.users.readAccount(user.home ?? user.openid), deps.users.identitiesOf(user.userId)]);
  if (!row || row.userId !== user.userId || row.deletedAt) throw new AppError('NOT_FOUND', 'The user no longer exists.');
  const [sessions, logins] = await Promise.all([deps.sessions.sessionsOf(user.userId, user.sessionId, now.getTime()), deps.sessions.loginLog(user.userId)]);
  const { userId, openid, unionid, createdAt, lastLoginAt, loginCount, nickname, avatarKey, phone } = row;
  // The home row as read (consistent), then every other identity the index lists.
  const identities: Identity[] = [
    { openid, ...(row.appid ? { appid: row.appid } : {}), ...(row.kind ? { kind: row.kind } : {}), createdAt, lastLoginAt, loginCount },
    ...listed.filter((identity) => identity.openid !== openid),
  ];
  return {
    exportedAt: now.toISOString(),
    userId,
    openid,
    ...(unionid ? { unionid } : {}),
    createdAt,
    // As GET /user/me shows them: over every identity.
    lastLoginAt: identities.reduce((latest, identity) => (identity.lastLoginAt > latest ? identity.lastLoginAt : latest), lastLoginAt),
    loginCount: identities.reduce((sum, identity) => sum + identity.loginCount, 0),
    ...(nickname ? { nickname } : {}),
    ...(avatarKey && deps.avatarUrlOf ? { avatarUrl: deps.avatarUrlOf(avatarKey) } : {}),
    ...(phone ? { phone } : {}),
    sessions,
    logins,
    identities,
  };
}
