import { AppError } from '../errors';
import type { EventPublisher } from '../account/ports';
import type { Logger } from '../logger';
import type { Holder, PhoneLeases, PhoneRepository } from '../phone/service';
import { avatarPrefix, type AvatarStore } from '../profile/ports';
import type { SessionPurge } from '../sessions/ports';
import { type AccountRow, type AccountRows, type UserRepository, type WriteLeases } from './ports';

/** What a merge needs of the users and unionids tables (lib/adapters/dynamodb-users.ts). */
export interface MergeRows extends Pick<AccountRows, 'readAccount' | 'identityRows' | 'markDeleting'>, Pick<UserRepository, 'moveIdentity'> {
  updateProfile(owner: Holder, change: { nickname: string } | { avatarKey: string }): Promise<unknown>;
  /**
   * `from`'s home row becomes an identity of `into`: the user's data leaves it (it is on `into`'s
   * home now), and a conflict recorded on it with `into`'s unionid becomes its link.
   */
  moveHome(from: Holder, into: { userId: string; home: string; unionid?: string }): Promise<void>;
  /** The unionid's claim passes to `into`, if it is still `from`'s. */
  moveUnionid(unionid: string, from: string, into: { userId: string; home: string }): Promise<void>;
  /** The home row of a user who has no unionid takes one (its claim is the user's already). */
  adoptUnionid(home: Holder, unionid: string): Promise<void>;
  releaseUnionids(userId: string): Promise<void>;
}

export interface MergeDeps {
  users: MergeRows;
  leases: Pick<WriteLeases, 'lease'>;
  phones: Pick<PhoneRepository, 'claim' | 'takeOver' | 'bind' | 'unbind' | 'release' | 'claimsOf'>;
  phoneLeases: PhoneLeases;
  avatars: Pick<AvatarStore, 'list' | 'delete' | 'copy'>;
  sessions: Pick<SessionPurge, 'purgeUser'>;
  phoneKeys: (userId: string) => { index: string; others: string[] };
  events: EventPublisher;
  /** Shows a number in the report: masked, never whole. */
  mask: (phoneNumber: string) => string;
  /** The longest wait for a phone binding or an avatar upload of `from` in flight. */
  maxLeaseWaitMs?: number;
  now?: () => Date;
}

/** What a merge did, for the operator. */
export interface MergeReport {
  from: string;
  into: string;
  /** Identities (rows) of `from` now `into`'s, its home row included. */
  identities: number;
  /** What `into` took from `from`, where it had none. */
  moved: ('phone' | 'nickname' | 'avatar' | 'unionid')[];
  /** What both held: `into`'s kept, `from`'s dropped (the number masked). */
  dropped: { phone?: string; nickname?: true; avatar?: true; unionid?: true };
  sessionsEnded: number;
  /** The merge was done by an earlier run: this one only saw to its last steps again. */
  alreadyMerged?: true;
}

/**
 * The operator's merge (`npm run users -- merge <from> <into>`, docs/identities.md): `from`'s
 * identities, phone number, profile and avatar become `into`'s, and `from`'s sessions end.
 * Where both hold a phone number or a nickname (or an avatar, or a unionid), `into`'s is kept
 * and the report says what was dropped.
 *
 * In an order that a run stopped anywhere resumes from when it is run again:
 * 1. `from`'s home row refuses new writers (a phone binding, an avatar upload: the deletion's
 *    mark), and Redis marks `from` merged into `into`, ending its sessions: a login through one
 *    of its identities commits no session for it from now on (lib/login/service.ts answers 503
 *    until the identity is `into`'s). Writers in flight are waited for.
 * 2. The data goes to `into`'s home row where it has none: the phone number (its claim moved
 *    to `into` before the row is written, `from`'s row cleared after), the nickname, the
 *    avatar (the file copied under `into`'s folder). `from`'s other numbers and files go.
 * 3. The unionid's claim passes to `into` (or is freed, when `into` holds one).
 * 4. `from`'s other identities move; `from`'s home row moves last, as what says the merge is
 *    not done. Then UsersMerged is published.
 */
export async function mergeUsers(deps: MergeDeps, fromUserId: string, intoUserId: string, log: Logger): Promise<MergeReport> {
  const { users, phones, avatars } = deps;
  const now = () => deps.now?.() ?? new Date();
  if (fromUserId === intoUserId) throw new AppError('INVALID_REQUEST', 'A user cannot be merged into itself.');
  const into = await homeOf(users, intoUserId);
  if (!into) throw new AppError('NOT_FOUND', `No user ${intoUserId} (or it is being deleted).`);
  const report: MergeReport = { from: fromUserId, into: intoUserId, identities: 0, moved: [], dropped: {}, sessionsEnded: 0 };
  const target = { userId: intoUserId, home: into.openid };

  const from = await homeOf(users, fromUserId);
  if (!from) {
    // Merged into `into` already (its home row is `into`'s identity now, marked so): the Redis
    // mark and any identity the last run left are seen to, and the event published again (at
    // least once). Else there is no such user, or it was merged into another: nothing is done.
    if (!(await mergedInto(users, intoUserId, fromUserId))) {
      throw new AppError('NOT_FOUND', `No user ${fromUserId} (it does not exist, or it was merged into another user).`);
    }
    report.alreadyMerged = true;
    report.sessionsEnded = await deps.sessions.purgeUser(fromUserId, deps.phoneKeys(fromUserId), target);
    for (const row of await users.identityRows(fromUserId)) if (!row.deleted) await users.moveIdentity({ userId: fromUserId, openid: row.openid }, { ...target, ...(into.unionid ? { unionid: into.unionid } : {}) });
    await deps.events.publish('UsersMerged', { fromUserId, intoUserId });
    return report;
  }
  // 1. No session for `from` from now on, and no new writers on it.
  report.sessionsEnded = await deps.sessions.purgeUser(fromUserId, deps.phoneKeys(fromUserId), target);
  const owner = { userId: fromUserId, openid: from.openid };
  const mark = await users.markDeleting(owner, now());
  const bindings = await deps.phoneLeases.closeLeases(fromUserId);
  const running = bindings.filter((lease) => lease.token !== mark?.lastBindingLease);
  await waitFor(Math.max(mark?.leaseUntil ?? 0, ...running.map((lease) => lease.until)), now, deps.maxLeaseWaitMs ?? 8000);
  // As the writers left it.
  const source = (await users.readAccount(from.openid)) ?? from;
  const home = { userId: intoUserId, openid: into.openid };

  // 2. The phone number.
  const number = source.phoneE164;
  if (number && source.phone) {
    if (into.phoneE164 === number) {
      // An earlier run moved it: only `from`'s row still holds it.
      await phones.unbind(owner, number);
      report.moved.push('phone');
    } else if (into.phoneE164) {
      await phones.unbind(owner, number);
      await phones.release(number, owner);
      report.dropped.phone = deps.mask(source.phone.phoneNumber);
    } else if (await takeClaim(deps, number, owner, home, now().getTime())) {
      // The claim names `into` before its row holds the number, and `from`'s row lets go after.
      const until = now().getTime() + 10_000;
      const lease = await deps.leases.lease(home, until, number);
      await phones.bind(home, number, source.phone, lease);
      await phones.unbind(owner, number);
      report.moved.push('phone');
    } else {
      // Someone else holds the number now: `from`'s row only remembered it.
      await phones.unbind(owner, number);
      report.dropped.phone = deps.mask(source.phone.phoneNumber);
    }
  }
  // Every other number `from` may still hold a claim on (as a deletion frees them).
  const others = new Set([source.replacedPhone, ...(source.leasedPhones ?? []), ...bindings.map((lease) => lease.number), ...(await phones.claimsOf(fromUserId))]);
  for (const other of others) if (other && other !== number) await phones.release(other, owner);

  // The nickname and the avatar.
  // (Each the same as the target's: moved by an earlier run.)
  if (source.nickname) {
    if (into.nickname === source.nickname) report.moved.push('nickname');
    else if (into.nickname) report.dropped.nickname = true;
    else {
      await users.updateProfile(home, { nickname: source.nickname });
      report.moved.push('nickname');
    }
  }
  if (source.avatarKey) {
    const copied = `${avatarPrefix(intoUserId)}${source.avatarKey.slice(source.avatarKey.lastIndexOf('/') + 1)}`;
    if (into.avatarKey === copied) report.moved.push('avatar');
    else if (into.avatarKey) report.dropped.avatar = true;
    else {
      await avatars.copy(source.avatarKey, copied);
      await users.updateProfile(home, { avatarKey: copied });
      report.moved.push('avatar');
    }
  }
  const files = await avatars.list(avatarPrefix(fromUserId));
  if (files.length > 0) await avatars.delete(files);

  // 3. The unionid.
  if (source.unionid && source.unionid !== into.unionid) {
    if (into.unionid) {
      await users.releaseUnionids(fromUserId);
      report.dropped.unionid = true;
    } else {
      await users.moveUnionid(source.unionid, fromUserId, target);
      await users.adoptUnionid(home, source.unionid);
      report.moved.push('unionid');
    }
  }

  // 4. The identities, the home row last.
  const unionid = into.unionid ?? source.unionid;
  for (const row of await users.identityRows(fromUserId)) {
    if (row.deleted || row.openid === from.openid) continue;
    await users.moveIdentity({ userId: fromUserId, openid: row.openid }, { ...target, ...(unionid ? { unionid } : {}) });
    report.identities++;
  }
  await users.moveHome(owner, { ...target, ...(unionid ? { unionid } : {}) });
  report.identities++;
  await deps.events.publish('UsersMerged', { fromUserId, intoUserId });
  log.info('users merged', { fromUserId, intoUserId, identities: report.identities, moved: report.moved, dropped: Object.keys(report.dropped) });
  return report;
}

/** A user's live home row (consistent), found by the byUser index. */
export async function homeOf(users: Pick<MergeRows, 'identityRows' | 'readAccount'>, userId: string): Promise<AccountRow | null> {
  for (const row of await users.identityRows(userId)) {
    if (row.secondary || row.deleted) continue;
    const home = await users.readAccount(row.openid);
    if (home && home.userId === userId && !home.deletedAt && !home.home) return home;
  }
  return null;
}

/** Whether one of `into`'s rows is the home row `fromUserId` had before it was merged into `into`. */
async function mergedInto(users: Pick<MergeRows, 'identityRows' | 'readAccount'>, intoUserId: string, fromUserId: string): Promise<boolean> {
  for (const row of await users.identityRows(intoUserId)) {
    if ((await users.readAccount(row.openid))?.mergedFrom === fromUserId) return true;
  }
  return false;
}

/** The claim on `number` for `to`: already theirs, free, or taken over from `from`. False when a third user holds it. */
async function takeClaim(deps: Pick<MergeDeps, 'phones'>, number: string, from: Holder, to: Holder, now: number): Promise<boolean> {
  const claim = await deps.phones.claim(number, to, now);
  if (claim.claimed) return true;
  if (claim.holder.userId !== from.userId) return false;
  return deps.phones.takeOver(number, claim, to, now);
}

async function waitFor(until: number, now: () => Date, maxWaitMs: number): Promise<void> {
  const wait = until - now().getTime();
  if (wait <= 0) return;
  if (wait > maxWaitMs) throw new AppError('SERVICE_UNAVAILABLE', 'A change to the user is in flight: run the merge again in a moment.', { retryAfterSeconds: Math.ceil(wait / 1000) });
  await new Promise<void>((resolve) => setTimeout(resolve, wait));
}
