import { AppError } from '../errors';

/**
 * The ports over the user rows that the use cases depend on; lib/adapters/dynamodb-users.ts
 * implements them over DynamoDB.
 */

export interface User {
  userId: string;
  /** The identity's openid: the row's key (docs/identities.md). */
  openid: string;
  /**
   * The openid of the user's home row, which holds what belongs to the user (the unionid, the
   * phone number, the profile): the user's first identity's. Absent when this row is the home.
   */
  home?: string;
  /** The mini-program the identity is of; absent on rows from before several were served (the default app's). */
  appid?: string;
  /** Its kind (`miniprogram`); absent on rows from before it was kept. */
  kind?: string;
  unionid?: string;
  createdAt: string;
  lastLoginAt: string;
  loginCount: number;
  /** The bound phone number (lib/phone/), as WeChat verified it. */
  phone?: { countryCode: string; purePhoneNumber: string; phoneNumber: string; verifiedAt: string };
  /** Chosen by the user (头像昵称填写), checked by WeChat's content check. */
  nickname?: string;
  /** The avatar's object key in the avatars bucket (lib/profile/). */
  avatarKey?: string;
}

/**
 * The user's home row, as the user-level writes and reads key it (the phone number, the
 * profile, a deletion): `home` when the session is a second app's identity, else `openid`.
 */
export function homeRow(user: { userId: string; openid: string; home?: string }): { userId: string; openid: string } {
  return { userId: user.userId, openid: user.home ?? user.openid };
}

/**
 * The login met a row whose account is being deleted (tombstoned, lib/account/): the
 * deletion must be finished before this openid can start a new identity.
 */
export class AccountBeingDeleted extends Error {
  override readonly name = 'AccountBeingDeleted';
  constructor(readonly userId: string) {
    super('the account is being deleted');
  }
}

/** A row as account deletion and export read it: the user, and what deletion must clean. */
export interface AccountRow extends User {
  /** Set once a deletion began (a tombstone). */
  deletedAt?: string;
  /** A number a binding replaced and that may still be claimed (lib/phone/). */
  replacedPhone?: string;
  /** The bound number in E.164, the claims table's key. */
  phoneE164?: string;
  /** Numbers a binding leased on the row and may have claimed, not (yet) put on the row. */
  leasedPhones?: string[];
  /** The user whose home row this was, before an operator merged it into this row's user (lib/users/merge.ts). */
  mergedFrom?: string;
  /** An operator's suspension, as recorded (lib/users/suspension.ts); Redis's mark is what is in force. */
  suspension?: { reason: string; at: string; until?: string };
}

/**
 * A writer's lease on the user row: a phone binding or an avatar upload takes one before its
 * first write outside the row (a claim on a number, a file), so that a deletion can wait for
 * it and then clean up whatever it wrote. Refused (accountBeingDeleted) once a deletion has begun.
 */
export interface WriteLeases {
  /**
   * Takes a lease until `until` (epoch ms) on the user's row, naming the number about to be
   * claimed, if any, and returns the lease's token. The writer sends no write outside the row
   * after `until` minus that write's own time limit (see `leaseLeft`), so a deletion that waits
   * until `until` sees all of them. The writer's last write on the row ends its lease (by the
   * token: another writer's lease stays); a lease never ended simply runs out.
   */
  lease(owner: { userId: string; openid: string }, until: number, phone?: string): Promise<string>;
  /**
   * Ends a lease whose writer failed before its last row write (that write ends it otherwise),
   * and forgets `phone` when the writer never sent its claim. Safe to repeat.
   */
  endLease(owner: { userId: string; openid: string }, token: string, phone?: string): Promise<void>;
  /**
   * An avatar upload's lease, counted against the user's uploads in the current fixed window
   * (`windowMs` long) in the same write: answers the token and this upload's number in the window.
   */
  leaseUpload(owner: { userId: string; openid: string }, until: number, windowMs: number): Promise<{ token: string; uploads: number }>;
}

/** A fresh lease token: its end, and a random part that tells two writers apart. */
export function leaseToken(until: number): string {
  return `${until}:${Math.random().toString(36).slice(2, 12)}`;
}

/** The latest end among lease tokens (0 for none). */
export function latestLease(tokens: string[]): number {
  return tokens.reduce((latest, token) => Math.max(latest, Number(token.split(':')[0]) || 0), 0);
}

/**
 * A deletion's mark refuses new write leases for this long: longer than any function that
 * deletes runs (its Lambda timeout), so a mark left by a deletion that died stops refusing.
 */
export const DELETION_MARK_MS = 60_000;

/** How much longer than its write's own limit a lease lasts: the reads before that write, and a retry's. */
export const LEASE_MARGIN_MS = 1000;

/**
 * The longest a write outside the row may take, every attempt included, for a store client
 * with `timeoutMs` per attempt and two attempts (lib/adapters/dynamodb.ts, s3-avatars.ts): both
 * attempts, and the SDK's standard-mode pause between them (up to 100 ms, 500 ms after a
 * throttle). A lease leaves at least this much when the write is sent.
 */
export function writeBudgetMs(timeoutMs: number): number {
  return 2 * timeoutMs + 500;
}

/**
 * A write refused because the account's deletion has begun: 503, since the deletion finishes
 * in seconds (then the token is refused), and a deletion that died stops refusing in a minute.
 */
export function accountBeingDeleted(): AppError {
  return new AppError('SERVICE_UNAVAILABLE', 'The account is being deleted.', { retryAfterSeconds: 5, details: { refused: 'deleting' } });
}

/** Throws a 503 when a write that may take `budgetMs` could land after the lease ends. */
export function leaseLeft(until: number, budgetMs: number, now = Date.now()): void {
  if (now + budgetMs > until) {
    throw new AppError('SERVICE_UNAVAILABLE', 'the write lease ran out before the write', { retryAfterSeconds: 1, details: { lease: 'expired' } });
  }
}

/** What a deletion's mark found on the row. */
export interface DeletionMark {
  /** Until when (epoch ms) a writer holding a lease on the row may still write (0 when none does). */
  leaseUntil: number;
  /** The token of the last phone binding that finished (its lease need not be waited for). */
  lastBindingLease?: string;
}

/** The port account deletion, export and WeChat's events depend on. */
export interface AccountRows {
  /**
   * Marks the live row as being deleted: no writer takes a new lease from now on (until the
   * mark is older than any deletion can run). Safe to repeat. Null when the row is not this
   * user's live row.
   */
  markDeleting(owner: { userId: string; openid: string }, now: Date): Promise<DeletionMark | null>;
  /** The whole row by openid (consistent), or null. A tombstone has only its ids and deletedAt. */
  readAccount(openid: string): Promise<AccountRow | null>;
  /**
   * Strips the row to a tombstone (its ids and deletedAt) so that nothing personal stays,
   * and marks it for DynamoDB's TTL as a last resort; only the user's own row.
   */
  tombstone(owner: { userId: string; openid: string }, now: Date): Promise<void>;
  /** Deletes the tombstone; a row that is gone already is fine. */
  deleteTombstone(owner: { userId: string; openid: string }): Promise<void>;
  /** Removes the nickname and the avatar key (the files are the caller's to delete). */
  clearProfile(owner: { userId: string; openid: string }): Promise<void>;
  /**
   * Every row of the user's by the byUser index (eventually consistent), tombstones included:
   * `secondary` for an identity that is not the home (docs/identities.md).
   */
  identityRows(userId: string): Promise<{ openid: string; secondary: boolean; deleted: boolean }[]>;
  /** Deletes every unionid claim the user holds (found by the unionids table's byUser index). Safe to repeat. */
  releaseUnionids(userId: string): Promise<void>;
}

/** What a profile change sets on the row. */
export type ProfileChange = { nickname: string } | { avatarKey: string };

/** The port the profile use cases depend on. */
export interface ProfileWriter {
  /**
   * Sets the change on the user's row; returns the row as it now is and the value it replaced
   * (e.g. the previous avatar's key). NOT_FOUND when the row is gone or being deleted.
   */
  updateProfile(owner: { userId: string; openid: string }, change: ProfileChange, endLease?: string): Promise<{ user: User; previous: string | undefined }>;
}

export interface RecordLogin {
  openid: string;
  /** The app the identity is of, and its kind (kept on a new identity's row). */
  appid?: string;
  kind?: string;
  unionid?: string;
  /** The id to assign if this openid has never logged in. */
  newUserId: string;
  /** The login request's own id: makes the write safe to send twice, and undoable. */
  loginId: string;
  now: Date;
}

export interface RecordedLogin {
  /** The identity's row as this login left it: its userId is the user signed in. */
  user: User;
  /**
   * The unionid WeChat sent is held by another user than this identity's (a user from before
   * the open-platform binding who has used another app since): signed in as its own user, the
   * pair recorded on the row for the operator's merge (docs/identities.md).
   */
  conflict?: {
    unionid: string;
    holder: string;
    /** Recorded by an earlier login already (reported then). */
    known?: true;
  };
}

/** The port the login use case depends on. */
export interface UserRepository {
  recordLogin(input: RecordLogin): Promise<RecordedLogin>;
  /**
   * Takes back login `loginId` (its session could not be issued), whether its write landed,
   * will land late, or never will: once this returns, that write can no longer apply, and if
   * it had applied, loginCount and lastLoginAt are as before it. The row itself, its userId
   * and anything else it holds stay: a user's identity is never deleted by a failed login.
   * `landed`: the login saw its write applied (its answer came back). Then no row is ever
   * made for the fence: a row that is gone was deleted (an account deletion) and stays gone.
   */
  undoLogin(openid: string, loginId: string, landed: boolean): Promise<void>;
  /**
   * Deletes an identity's row that is not its user's home, if it is still that user's: for a
   * login through an identity of a user whose deletion the index did not show it to (it joined
   * in that moment). The user is gone, so is its identity; the retry starts a new user.
   */
  dropIdentity(owner: { userId: string; openid: string }): Promise<void>;
  /**
   * Moves an identity's row to the user it was merged into (lib/users/merge.ts), if it is still
   * `from`'s: its userId and home become `into`'s; what the row holds of the identity stays. A
   * conflict recorded on it with `into`'s unionid becomes its link. Safe to repeat.
   */
  moveIdentity(from: { userId: string; openid: string }, into: { userId: string; home: string; unionid?: string }): Promise<void>;
}

/** One of a user's identities, as the users table's byUser index has it (eventually consistent). */
export interface Identity {
  openid: string;
  /** Absent on a row from before several apps were served: the default app's. */
  appid?: string;
  /** The kind of app (`miniprogram`); absent on a row from before it was kept. */
  kind?: string;
  createdAt: string;
  lastLoginAt: string;
  loginCount: number;
}

/** The port the profile use case depends on. */
export interface UserReader {
  findByOpenid(openid: string): Promise<User | null>;
  /** The user's identities (its home row's included), from the byUser index: none that is being deleted. */
  identitiesOf(userId: string): Promise<Identity[]>;
}
