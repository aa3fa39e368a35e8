import { AppError } from '../errors';
import type { AccountRow, AccountRows } from './ports';
import { homeOf } from './merge';

/** A suspension's end time as operators give it: ISO 8601 with its zone (Z or ±hh:mm), nothing looser. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;
/** A reason is for the operators: one line, not an essay. */
export const MAX_REASON_LENGTH = 500;

/**
 * An operator's suspension as the CLI and the admin API take it: a reason of one printable line
 * (at most MAX_REASON_LENGTH characters) and, optionally, an end time in ISO 8601 with its zone
 * (`2027-01-31T00:00:00Z`; a time without a zone would be read in the operator's local time).
 * INVALID_REQUEST otherwise. Whether the end is in the future is the suspension's own check.
 */
export function parseSuspension(reason: unknown, until: unknown): { reason: string; until?: Date } {
  if (typeof reason !== 'string' || !reason.trim()) throw new AppError('INVALID_REQUEST', 'A suspension needs a reason: kept for the operators, never told to the user.');
  if (/[\u0000-\u001f\u007f]/.test(reason)) throw new AppError('INVALID_REQUEST', 'The reason must be one line of printable text.');
  if (reason.length > MAX_REASON_LENGTH) throw new AppError('INVALID_REQUEST', `The reason is at most ${MAX_REASON_LENGTH} characters.`);
  if (until === undefined) return { reason: reason.trim() };
  const end = typeof until === 'string' && ISO_WITH_ZONE.test(until) ? new Date(until) : undefined;
  if (!end || Number.isNaN(end.getTime())) throw new AppError('INVALID_REQUEST', 'The end time must be an ISO time with its zone, e.g. 2027-01-31T00:00:00Z.');
  return { reason: reason.trim(), until: end };
}

/** What suspending and lifting a suspension need of the stores. */
export interface SuspensionDeps {
  users: Pick<AccountRows, 'readAccount' | 'identityRows'> & {
    recordSuspension(home: { userId: string; openid: string }, suspension: { reason: string; at: string; until?: string }): Promise<boolean>;
    clearSuspension(home: { userId: string; openid: string }): Promise<void>;
  };
  sessions: {
    /** The mark and the end of every session, in one step (lib/adapters/redis-sessions.ts SUSPEND_SCRIPT). */
    suspend(userId: string, until: number | undefined, now: number): Promise<number>;
    unsuspend(userId: string): Promise<void>;
    suspension(userId: string): Promise<{ until?: number; since: number } | null>;
  };
  now?: () => Date;
}

/**
 * An operator's suspension (`npm run users -- suspend`, docs/identities.md): the user can no
 * longer sign in, through any of its identities, until it is lifted or its end time passes.
 *
 * 1. The home row records it: the reason (never told to the user), when, until when.
 * 2. Redis's mark, and the end of every session of the user, in one script: a login commits
 *    no session while the mark stands (the commit checks it, as it checks a deletion's), and a
 *    commit that lands before the script is ended by it. The mark expires at the end time.
 * Safe to run again; a run stopped after step 1 is finished by the next.
 */
export async function suspendUser(deps: SuspensionDeps, userId: string, options: { reason: string; until?: Date }): Promise<{ sessionsEnded: number }> {
  const now = deps.now?.() ?? new Date();
  if (!options.reason.trim()) throw new AppError('INVALID_REQUEST', 'A suspension needs a reason (kept for the operators, never told to the user).');
  if (options.until && options.until.getTime() <= now.getTime()) throw new AppError('INVALID_REQUEST', 'The end time must be in the future.');
  const home = await liveHome(deps, userId);
  await deps.users.recordSuspension(home, { reason: options.reason.trim(), at: now.toISOString(), ...(options.until ? { until: options.until.toISOString() } : {}) });
  const sessionsEnded = await deps.sessions.suspend(userId, options.until?.getTime(), now.getTime());
  return { sessionsEnded };
}

/** Lifts a suspension: Redis's mark first (the next login is in), then the row's record. Safe to run again. */
export async function unsuspendUser(deps: SuspensionDeps, userId: string): Promise<void> {
  const home = await liveHome(deps, userId);
  await deps.sessions.unsuspend(userId);
  await deps.users.clearSuspension(home);
}

/** The user's status for the operator: active, or suspended (the record, and whether Redis's mark is in force). */
export async function statusOf(deps: SuspensionDeps, home: AccountRow): Promise<{ status: 'active' | 'suspended'; reason?: string; since?: string; until?: string; note?: string }> {
  const mark = await deps.sessions.suspension(home.userId);
  const record = home.suspension;
  if (mark) {
    return { status: 'suspended', ...(record ? { reason: record.reason } : {}), since: new Date(mark.since).toISOString(), ...(mark.until ? { until: new Date(mark.until).toISOString() } : {}) };
  }
  if (record && (!record.until || record.until > (deps.now?.() ?? new Date()).toISOString())) {
    return { status: 'active', note: 'the row records a suspension that is not in force (a run stopped half-way): run suspend again, or unsuspend' };
  }
  return { status: 'active' };
}

async function liveHome(deps: SuspensionDeps, userId: string): Promise<{ userId: string; openid: string }> {
  const home = await homeOf(deps.users, userId);
  if (!home) throw new AppError('NOT_FOUND', `No user ${userId} (or it is being deleted).`);
  return { userId, openid: home.openid };
}
