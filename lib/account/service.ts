import { seal } from '../crypto';
import { AppError } from '../errors';
import { SESSION_KEY_PURPOSE } from '../login/service';
import type { EventPublisher } from './ports';
import type { Logger } from '../logger';
import type { Holder, PhoneLeases, PhoneRepository } from '../phone/service';
import { avatarPrefix, type AvatarStore } from '../profile/ports';
import type { SessionPurge } from '../sessions/ports';
import { homeRow, type AccountRows } from '../users/ports';
import type { WechatAuth } from '../login/ports';
import type { AccountEvents, Revoked } from './ports';

export interface AccountDeps {
  /** To re-authenticate a deletion; absent where only WeChat's events are handled. */
  /** The re-authentication's exchange, in the session's app (none: the default app); only POST /user/delete has it. */
  wechat?: (appid?: string) => WechatAuth;
  users: AccountRows;
  phones: Pick<PhoneRepository, 'release' | 'unbind' | 'claimsOf'>;
  /** The phone bindings' leases (kept in Redis with the code results). */
  phoneLeases: PhoneLeases;
  avatars: Pick<AvatarStore, 'list' | 'delete' | 'urlOf'>;
  sessions: SessionPurge;
  /** The Redis key of a user's phone-code results (lib/adapters/redis-phone-codes.ts). */
  phoneKeys: (userId: string) => { index: string; others: string[] };
  events: EventPublisher;
  /**
   * How long this function may wait for a writer's lease (a phone binding or an avatar upload
   * in flight) before cleaning up; a longer lease answers 503 with Retry-After instead.
   */
  maxLeaseWaitMs?: number;
  now?: () => Date;
}

/** What POST /user/delete (20 s at most, deploy/routes/delete-account.yml) waits for a writer's lease by default. */
export const MAX_LEASE_WAIT_MS = 8000;

/**
 * Steps 3 to 5 of a deletion (see AccountService): what the login needs to finish one it
 * meets as a tombstone, without the deletion's other clients (S3, the phones table).
 */
export function finishAccountDeletion(deps: Pick<AccountDeps, 'sessions' | 'users' | 'events' | 'phoneKeys'>) {
  return async (owner: Holder, log: Logger): Promise<void> => {
    const { users } = deps;
    // The user's other identities (docs/identities.md): tombstoned like the home row, so that a
    // login through one meets a tombstone and finishes this; and the unionid freed, so that no
    // new identity joins the user from now on. A row the index does not show yet (an identity
    // joining in this moment) is dropped by its own login, whose commit the purge refuses.
    const rows = await users.identityRows(owner.userId);
    for (const row of rows) if (row.secondary && !row.deleted) await users.tombstone({ userId: owner.userId, openid: row.openid }, new Date());
    await users.releaseUnionids(owner.userId);
    // Published while the user's token still works: until the purge below, a retry of the
    // deletion reaches this again, so a failed publish is never left behind.
    await deps.events.publish('UserDeleted', { userId: owner.userId });
    const sessions = await deps.sessions.purgeUser(owner.userId, deps.phoneKeys(owner.userId));
    for (const openid of new Set([owner.openid, ...rows.map((row) => row.openid)])) await users.deleteTombstone({ userId: owner.userId, openid });
    log.info('account deletion finished', { userId: owner.userId, sessions, identities: rows.length });
  };
}

/**
 * The user's data rights: deleting the account (and its export, lib/account/export.ts), and
 * obeying WeChat's authorization events (lib/account/ports.ts).
 *
 * Deleting runs in an order that any interruption can resume from, and that never leaves a
 * session alive for a deleted user:
 * 1. the row (and, for phone bindings, Redis) is marked: no phone binding or avatar upload
 *    starts from now on; those already running hold a short lease, which the deletion waits
 *    out (or answers 503 to retry); then every phone claim of the user (the row's, any number a
 *    binding leased, any claim under the user's id) and every avatar file go (the user's
 *    session still works, so the client can retry);
 * 2. the row becomes a tombstone: its ids and deletedAt, nothing personal; no login, profile
 *    or phone write lands on it any more;
 * 3. `UserDeleted` is published (at least once: every retry that gets here publishes it);
 * 4. Redis: the deleted mark (no login may commit a session for the user from now on), every
 *    session, every stored login- and phone-code result;
 * 5. the tombstone is deleted.
 * Up to step 4 the user's token works, so the client's retry resumes the deletion; from it
 * the token is refused, and what is left (the tombstone, nothing personal in it) goes with the
 * next login of that WeChat user (lib/login/service.ts), WeChat's cancellation event, or
 * DynamoDB's TTL within a week.
 */
export class AccountService implements AccountEvents {
  private readonly now: () => Date;

  constructor(private readonly deps: AccountDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * POST /user/delete: re-authenticated with a fresh wx.login code, then deleted. `session`,
   * the caller's session and token: the fresh code's exchange has just replaced the user's
   * session_key at WeChat, so the session keeps the new one (sealed under its token) before
   * anything else, and open data still decrypts if the deletion then fails.
   */
  async deleteWithCode(user: Holder & { appid?: string }, code: string, log: Logger, session?: { sessionId: string; token: string }): Promise<void> {
    if (!this.deps.wechat) throw new Error('AccountService was built without WeChat: it cannot re-authenticate a deletion');
    // A fresh code of the session's own identity: its app's, with its openid.
    const wx = await this.deps.wechat(user.appid).code2Session(code);
    if (wx.openid !== user.openid) {
      log.warn('account deletion refused: the code is another WeChat user’s', { userId: user.userId });
      throw new AppError('REAUTH_FAILED');
    }
    if (session && wx.sessionKey && this.deps.sessions.resealKey) {
      await this.deps.sessions.resealKey(session.sessionId, seal(SESSION_KEY_PURPOSE, session.token, wx.sessionKey)).catch((err: unknown) => {
        log.warn('could not keep the fresh session_key on the session', { errorCode: (err as AppError).code });
      });
    }
    // The whole user: its home row, then every identity (docs/identities.md).
    await this.delete(homeRow(user), log);
    log.info('account deleted', { userId: user.userId });
  }

  /**
   * An operator's deletion (lib/users/operator.ts) of a user who cannot sign in to ask (a
   * suspended one): the same deletion as POST /user/delete's, from the user's home row, without
   * a code. Safe to run again.
   */
  async deleteHome(home: Holder, log: Logger): Promise<void> {
    await this.delete(home, log);
    log.info('account deleted by an operator', { userId: home.userId });
  }

  async accountCancelled(openid: string, log: Logger): Promise<void> {
    const row = await this.deps.users.readAccount(openid);
    if (!row) return log.info('account cancelled at WeChat: no user here');
    // The person deleted their WeChat account: the whole user goes, whichever app's identity this is.
    await this.delete(homeRow(row), log);
    log.info('account deleted after WeChat’s cancellation event', { userId: row.userId });
  }

  async authorizationRevoked(openid: string, revoked: Revoked, log: Logger): Promise<void> {
    const row = await this.deps.users.readAccount(openid);
    if (!row || row.deletedAt) return;
    // The phone number and the profile are the user's, on its home row.
    const owner = homeRow(row);
    const home = owner.openid === openid ? row : await this.deps.users.readAccount(owner.openid);
    if (!home || home.deletedAt || home.userId !== row.userId) return;
    if (revoked.phone) {
      // Off the row first, then the claim: a row never holds a number its claim does not name.
      if (home.phoneE164) {
        await this.deps.phones.unbind(owner, home.phoneE164);
        await this.deps.phones.release(home.phoneE164, owner);
      }
      if (home.replacedPhone) await this.deps.phones.release(home.replacedPhone, owner);
    }
    if (revoked.profile) await this.clearProfile(owner);
    // An App's whole grant: what it gave was the login, so the sessions opened through it end.
    const ended = revoked.appSessions && row.appid ? await this.deps.sessions.revokeAppSessions(row.userId, row.appid) : 0;
    log.info('authorization withdrawn at WeChat: data removed', { userId: row.userId, phone: revoked.phone, profile: revoked.profile, sessionsEnded: ended });
  }

  async infoModified(openid: string, log: Logger): Promise<void> {
    const row = await this.deps.users.readAccount(openid);
    if (!row || row.deletedAt) return;
    await this.clearProfile(homeRow(row));
    log.info('profile cleaned up at WeChat: nickname and avatar cleared', { userId: row.userId });
  }

  /** Steps 3 to 5 alone, for a deletion that got as far as its tombstone. */
  finish(owner: Holder, log: Logger): Promise<void> {
    return finishAccountDeletion(this.deps)(owner, log);
  }

  private async delete(owner: Holder, log: Logger): Promise<void> {
    const { users, phones, phoneLeases } = this.deps;
    // Null when the row is not this user's live one: a tombstone already, or gone.
    const mark = await users.markDeleting(owner, this.now());
    if (mark) {
      // Writers outside the row (a number's claim, an avatar file) take a lease first: an
      // upload on the row, a binding in Redis (or on the row when Redis failed it). The marks
      // refuse new leases; the ones already taken end before their writes can land. Then
      // everything of the user is found and removed, so nothing written beside the deletion stays.
      const bindings = await phoneLeases.closeLeases(owner.userId);
      // A binding whose row write is done claims nothing more: no wait for its lease.
      const running = bindings.filter((lease) => lease.token !== mark.lastBindingLease);
      await this.waitForWriters(Math.max(mark.leaseUntil, ...running.map((lease) => lease.until)), owner, log);
      // Read once the writers are done. The claims by user find any an interrupted binding left,
      // however old; the leases name those too recent for that index to show yet.
      const row = await users.readAccount(owner.openid);
      const numbers = new Set([row?.phoneE164, row?.replacedPhone, ...(row?.leasedPhones ?? []), ...bindings.map((lease) => lease.number), ...(await phones.claimsOf(owner.userId))]);
      for (const number of numbers) if (number) await phones.release(number, owner);
      await this.deleteAvatarFiles(owner.userId);
      await users.tombstone(owner, this.now());
    }
    // Also when the row is a tombstone already, or gone (an earlier deletion stopped after
    // deleting it): the Redis purge and the event are safe to repeat.
    await this.finish(owner, log);
  }

  private async waitForWriters(leaseUntil: number, owner: Holder, log: Logger): Promise<void> {
    const wait = leaseUntil - this.now().getTime();
    if (wait <= 0) return;
    if (wait > (this.deps.maxLeaseWaitMs ?? MAX_LEASE_WAIT_MS)) {
      // The mark stays and refuses new leases, so the retry finds the writer gone.
      log.info('account deletion waits for a write in flight: retry', { userId: owner.userId, waitMs: wait });
      throw new AppError('SERVICE_UNAVAILABLE', 'A change to this account is in flight.', { retryAfterSeconds: Math.ceil(wait / 1000) });
    }
    log.info('account deletion waits for a write in flight', { userId: owner.userId, waitMs: wait });
    await new Promise<void>((resolve) => setTimeout(resolve, wait));
  }

  private async clearProfile(owner: Holder): Promise<void> {
    await this.deps.users.clearProfile(owner);
    await this.deleteAvatarFiles(owner.userId);
  }

  private async deleteAvatarFiles(userId: string): Promise<void> {
    const keys = await this.deps.avatars.list(avatarPrefix(userId));
    if (keys.length > 0) await this.deps.avatars.delete(keys);
  }
}
