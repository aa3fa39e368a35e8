import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { AccountExport } from '../account/export';
import type { Holder } from '../phone/service';
import type { LoginLogEntry, SessionEnder, SessionPurge, SessionRevoker, SessionSummary } from '../sessions/ports';
import { checkPublicSessionId } from '../sessions/public-id';
import { homeOf } from './merge';
import type { AccountRow, UserReader } from './ports';
import { statusOf, suspendUser, unsuspendUser, type SuspensionDeps } from './suspension';

/** The latest login log entries `show` lists; the export has them all. */
export const SHOWN_LOGINS = 20;

const USER_ID = /^[0-9A-Z]{26}$/;

function checkUserId(userId: string): void {
  if (!USER_ID.test(userId)) throw new AppError('INVALID_REQUEST', 'A userId is a 26-character ULID (A–Z and 0–9).');
}

/** What the operator's use cases need of the stores; lib/users/compose.ts wires them. */
export interface OperatorDeps extends SuspensionDeps {
  users: SuspensionDeps['users'] & Pick<UserReader, 'identitiesOf'>;
  /** The phones table's claim on a number (E.164): who holds it. */
  phones: { holderOf(number: string): Promise<Holder | undefined> };
  sessions: SuspensionDeps['sessions'] & Pick<SessionPurge, 'sessionsOf' | 'loginLog'> & SessionEnder & Pick<SessionRevoker, 'revokeAll'>;
  /** A user's export and deletion (lib/account/), for a user who cannot sign in to ask: a suspended one. */
  account: {
    exportOf(user: Holder & { sessionId: string }): Promise<AccountExport>;
    deleteHome(home: Holder, log: Logger): Promise<void>;
  };
  mask: (phoneNumber: string) => string;
}

/** A user as the operator sees it: no token, no session_key, the phone number masked. */
export interface UserView {
  userId: string;
  createdAt: string;
  unionid?: string;
  phone?: string;
  nickname?: string;
  status: Awaited<ReturnType<typeof statusOf>>;
  identities: { openid: string; appid?: string; kind?: string; lastLoginAt: string; loginCount: number }[];
  sessions: Omit<SessionSummary, 'current'>[];
  /** The latest SHOWN_LOGINS entries of the login log, newest first. */
  logins: LoginLogEntry[];
}

/**
 * The operator's use cases: the same for the CLI (scripts/users.ts) and the admin API
 * (functions/admin.ts), so neither has its own copy. Each takes a userId (26-character ULID)
 * and answers NOT_FOUND for a user that does not exist or is being deleted; `show` also finds a
 * user by phone number (the phones table's claim, no scan) or by openid (its identity's row).
 */
export function createOperator(deps: OperatorDeps) {
  const sessionOperator = createSessionOperator(deps);
  const home = async (userId: string): Promise<AccountRow> => {
    checkUserId(userId);
    const row = await homeOf(deps.users, userId);
    if (!row) throw new AppError('NOT_FOUND', `No user ${userId} (or it is being deleted).`);
    return row;
  };
  /** The userId a query names: a userId as is; a phone number's claim holder; an openid's row's user. */
  const userIdOf = async (query: string): Promise<string | undefined> => {
    if (USER_ID.test(query)) return query;
    const digits = query.replace(/[\s-]/g, '');
    if (/^\+?\d{5,15}$/.test(digits)) return (await deps.phones.holderOf(digits.startsWith('+') ? digits : `+86${digits}`))?.userId;
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(query)) throw new AppError('INVALID_REQUEST', 'Look a user up by userId, phone number or openid.');
    return (await deps.users.readAccount(query))?.userId;
  };
  const sessionsOf = async (userId: string) => (await deps.sessions.sessionsOf(userId, '', (deps.now?.() ?? new Date()).getTime())).map(({ current: _current, ...session }) => session);

  return {
    /** The user, its identities, status, live sessions and latest logins; null when no user matches. */
    async show(query: string): Promise<UserView | null> {
      const userId = await userIdOf(query);
      const row = userId ? await homeOf(deps.users, userId) : null;
      if (!userId || !row) return null;
      const [identities, status, sessions, logins] = await Promise.all([deps.users.identitiesOf(userId), statusOf(deps, row), sessionsOf(userId), deps.sessions.loginLog(userId)]);
      const { phone, nickname, unionid, createdAt } = row;
      return {
        userId,
        createdAt,
        ...(unionid ? { unionid } : {}),
        ...(phone ? { phone: deps.mask(phone.phoneNumber) } : {}),
        ...(nickname ? { nickname } : {}),
        status,
        identities: identities.map(({ openid, appid, kind, lastLoginAt, loginCount }) => ({ openid, ...(appid ? { appid } : {}), ...(kind ? { kind } : {}), lastLoginAt, loginCount })),
        sessions,
        logins: logins.slice(0, SHOWN_LOGINS),
      };
    },
    // The suspension finds the user's home row itself (NOT_FOUND when there is none).
    suspend: async (userId: string, options: { reason: string; until?: Date }) => (checkUserId(userId), suspendUser(deps, userId, options)),
    unsuspend: async (userId: string) => (checkUserId(userId), unsuspendUser(deps, userId)),
    /** The user's live sessions, as the user's own list shows them. */
    sessions: async (userId: string) => (await home(userId), sessionsOf(userId)),
    /** Ends one session of the user (its public id), or all of them; NOT_FOUND for no such user. */
    revoke: async (userId: string, sessionId?: string) => (await home(userId), sessionOperator.revoke(userId, sessionId)),
    /** Everything stored about the user, as GET /user/me/export answers it (no session is the caller's). */
    async exportUser(userId: string): Promise<AccountExport> {
      const row = await home(userId);
      return deps.account.exportOf({ userId, openid: row.openid, sessionId: '' });
    },
    /** Deletes the user as POST /user/delete does, without a code: for a user who cannot sign in to ask. */
    async deleteUser(userId: string, log: Logger): Promise<void> {
      const row = await home(userId);
      await deps.account.deleteHome({ userId, openid: row.openid }, log);
    },
  };
}

export type Operator = ReturnType<typeof createOperator>;

/**
 * The operator's use cases over Redis alone: `npm run revoke` works while DynamoDB is out of
 * reach (SECURITY.md). `createOperator` has the same one.
 */
export function createSessionOperator(deps: { sessions: SessionEnder & Pick<SessionRevoker, 'revokeAll'> }) {
  return {
    /** Ends one session of the user (its public id), or all of them; answers how many ended. */
    async revoke(userId: string, sessionId?: string): Promise<{ sessionsEnded: number }> {
      checkUserId(userId);
      if (sessionId === undefined) return { sessionsEnded: await deps.sessions.revokeAll(userId) };
      checkPublicSessionId(sessionId);
      if (!(await deps.sessions.endSession(userId, sessionId))) throw new AppError('SESSION_NOT_FOUND', `User ${userId} has no live session ${sessionId}.`);
      return { sessionsEnded: 1 };
    },
  };
}
