import { AppError } from '../errors';
import { deriveId, open, seal } from '../crypto';
import type { Logger } from '../logger';
import { accountBeingDeleted, homeRow, LEASE_MARGIN_MS, leaseLeft, leaseToken, type WriteLeases } from '../users/ports';

/** A number as WeChat verified it (getuserphonenumber's phone_info, countryCode as a string). */
export interface PhoneInfo {
  countryCode: string;
  purePhoneNumber: string;
  phoneNumber: string;
}

/** What the user row keeps, and /user/me shows. */
export interface PhoneBinding extends PhoneInfo {
  /** ISO time WeChat verified it for this user. */
  verifiedAt: string;
}

/** The number in E.164 (`+8613800138000`): the one key a number is claimed under. */
export function e164(phone: Pick<PhoneInfo, 'countryCode' | 'purePhoneNumber'>): string {
  return `+${phone.countryCode}${phone.purePhoneNumber}`;
}

/** A stored E.164 number masked as WeChat writes numbers: bare digits for China, `+CC …` elsewhere. */
function shownE164(number: string, mask: (phone: string) => string): string {
  return number.startsWith('+86') ? mask(number.slice(3)) : mask(number);
}

/** WeChat's phone-number API (lib/adapters/wechat-phone.ts), as this use case needs it. */
export interface PhoneVerifier {
  /** `appid`: the session's app, whose access token the call takes (none: the default app). */
  getPhoneNumber(code: string, openid: string, appid?: string): Promise<PhoneInfo>;
}

/** Who holds a claim on a number. */
export interface Holder {
  userId: string;
  openid: string;
}

/** A claim on a number as it stands. */
export interface Claim {
  holder: Holder;
  /** Epoch ms the holder claimed it. */
  claimedAt: number;
}

/**
 * The storage steps of a binding (lib/adapters/dynamodb-phones.ts). A number is bound to a user when
 * both agree: the claim on the number names the user, and the user's row holds the number.
 * Every write here keeps one rule: a row holds a number only while the claim on it names that
 * row's user. So a claim that its holder's row does not confirm, once it is older than any
 * binding can take, is left over from an interrupted binding, and anyone may take it.
 */
export interface PhoneRepository {
  /** Claims the number for `owner` (at `now`) if it is free or already theirs; otherwise says who holds it. */
  claim(number: string, owner: Holder, now: number): Promise<{ claimed: true } | ({ claimed: false } & Claim)>;
  /** When the holder's row holds the number (the claim is live, not left over): its verifiedAt; else undefined. */
  confirms(holder: Holder, number: string): Promise<string | undefined>;
  /** Moves the claim to `to`, only if it still stands as `seen`. */
  takeOver(number: string, seen: Claim, to: Holder, now: number): Promise<boolean>;
  /** Takes the number off the holder's row, if the row still holds it. */
  unbind(holder: Holder, number: string): Promise<void>;
  /**
   * Puts the binding on the owner's row and records that the binding's lease (its token) is
   * done: a deletion need not wait for it. Returns the number it replaced. NOT_FOUND if the row is gone.
   */
  bind(owner: Holder, number: string, binding: PhoneBinding, lease: string): Promise<string | undefined>;
  /** Drops the claim, if `owner` still holds it, and the row's memory of it. */
  release(number: string, owner: Holder): Promise<void>;
  /** Every number claimed under `userId`, whatever became of the binding that claimed it. */
  claimsOf(userId: string): Promise<string[]>;
}

/** Results of phone codes already exchanged (Redis), and the per-user attempt limit. */
export interface PhoneCodeStore {
  /**
   * Counts the attempt against the user's limit, then looks the code up, in one round trip:
   * 'limited' (not counted), 'new', 'done' (this user's stored result) or 'foreign' (another user's).
   */
  begin(codeId: string, userId: string, limit: { limit: number; windowSeconds: number; now: number }): Promise<CodeLookup>;
  /** The code's stored result for this user, if any (a second look, after WeChat said the code was used). */
  lookup(codeId: string, userId: string): Promise<string | undefined>;
  /**
   * Keeps the code's result for its lifetime, so a retry needs no second exchange, and in the
   * same step takes the binding's lease on `number` until `until` (epoch ms): 'deleting' (and
   * nothing kept) once the user's deletion has begun (see PhoneLeases).
   */
  remember(codeId: string, userId: string, sealed: string, ttlSeconds: number, lease: BindingLease): Promise<'kept' | 'deleting'>;
}

/**
 * The bindings' leases as an account deletion sees them (kept beside the phone-code results):
 * it closes them to new bindings, and learns until when the running ones may still claim, and
 * which numbers.
 */
export interface PhoneLeases {
  closeLeases(userId: string): Promise<BindingLease[]>;
}

/** A binding's lease: until when (epoch ms) it may still claim `number`; `token` names it. */
export interface BindingLease {
  number: string;
  until: number;
  token: string;
}
export type CodeLookup = { state: 'limited'; retryAfterSeconds: number } | { state: 'new' } | { state: 'done'; sealed: string } | { state: 'foreign' };

export interface PhoneDeps {
  /** Refuses a session whose app cannot bind a number (not a mini-program's: lib/apps.ts requireMiniProgram). */
  checkApp?: (appid: string | undefined) => void;
  wechat: PhoneVerifier;
  phones: PhoneRepository;
  /**
   * The lease a binding takes on the user row before it claims a number (see WriteLeases),
   * when the one kept with the code's result in Redis could not be taken.
   */
  leases: Pick<WriteLeases, 'lease' | 'endLease'>;
  /** The longest a claim's write may take, every attempt included: none is sent with less lease left. */
  writeBudgetMs: number;
  codes: PhoneCodeStore;
  /** 'reject': a number bound to someone else answers PHONE_IN_USE; 'move': it moves to the newest verified holder. */
  conflict: 'reject' | 'move';
  limit: { limit: number; windowSeconds: number };
  /** Masks a number for logs (never log a full number): WeChat's phoneNumber, or an E.164 number. */
  mask: (phone: string) => string;
  now?: () => Date;
}

/** WeChat's phone codes live five minutes and are single-use: keep a result that long. */
export const PHONE_CODE_TTL_SECONDS = 300;
/**
 * How long an unconfirmed claim may still be a binding in flight: longer than the phone
 * function's timeout plus any late write. Younger than that, a racing user loses (PHONE_IN_USE);
 * older, the claim is left over and taken.
 */
export const CLAIM_GRACE_MS = 60_000;
const CODE_PURPOSE = 'phone-code';

/**
 * Binds a WeChat-verified phone number to the signed-in user.
 *
 * 1. Count the attempt (per user) and look the code up in Redis, in one round trip: a code this
 *    user exchanged before replays its number without calling WeChat (which charges per
 *    success, and answers a reused code 40029); another user's code is refused.
 * 2. Exchange the code with WeChat, passing the session's openid so WeChat checks the code is
 *    this user's.
 * 3. Keep the result for the code's lifetime (sealed under the code) and, in the same Redis
 *    step, take a short lease on the number: refused once the account's deletion has begun; a
 *    deletion already running waits for it, then frees the number. (Should Redis fail, the
 *    lease is taken on the user row instead.)
 * 4. Claim the number (conditional write): free, already ours, or left over from an
 *    interrupted binding → ours; bound to someone else → PHONE_IN_USE, or with
 *    PHONE_CONFLICT=move it moves: first off their row, then the claim.
 * 5. Put it on the user's row, and drop the claim on the number it replaced.
 * Every step is safe to repeat, and each one leaves the rule "a row holds a number only while
 * its claim names that row's user" true, so an interrupted binding is finished by the retry
 * and blocks nobody meanwhile.
 */
export class PhoneService {
  private readonly now: () => Date;

  constructor(private readonly deps: PhoneDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * `user`: the session's identity. WeChat is asked in its app, with its openid; the number is
   * the user's, kept on the user's home row (docs/identities.md), which its claim names.
   */
  async bind(user: Holder & { home?: string; appid?: string }, code: string, log: Logger): Promise<PhoneInfo> {
    const { codes, limit } = this.deps;
    this.deps.checkApp?.(user.appid);
    const codeId = deriveId(CODE_PURPOSE, code);
    const lookup = await codes.begin(codeId, user.userId, { ...limit, now: this.now().getTime() });
    if (lookup.state === 'limited') {
      log.warn('phone binding rate limit reached', { userId: user.userId });
      throw new AppError('RATE_LIMITED', 'Too many phone binding attempts. Retry later.', { retryAfterSeconds: lookup.retryAfterSeconds });
    }
    if (lookup.state === 'foreign') throw new AppError('INVALID_PHONE_CODE');

    // A replayed result carries the time WeChat verified it then, so an old code cannot take a
    // number back from someone WeChat verified it for since (PHONE_CONFLICT=move).
    const sealed = lookup.state === 'done' ? lookup.sealed : await this.exchange(code, codeId, user);
    const verified = this.opened(code, sealed);
    const owner = homeRow(user);
    const until = this.now().getTime() + this.deps.writeBudgetMs + LEASE_MARGIN_MS;
    const lease = await this.lease(owner, codeId, sealed, { number: e164(verified), until, token: leaseToken(until) }, log);
    const progress = { claimSent: false };
    try {
      await this.claimAndBind(owner, verified, lease, progress, log);
    } catch (err) {
      // Not ended by the binding's own row write: end it now, so leases never pile up on the row,
      // and forget the number unless a claim on it may have been written (a deletion frees that).
      if (lease.onRow) await this.deps.leases.endLease(owner, lease.token, progress.claimSent ? undefined : lease.number).catch(() => undefined);
      throw err;
    }
    const { countryCode, purePhoneNumber, phoneNumber } = verified;
    return { countryCode, purePhoneNumber, phoneNumber };
  }

  /** The result, sealed under the code: exchanged now, or, after a double tap, the other request's. */
  private async exchange(code: string, codeId: string, user: Holder & { appid?: string }): Promise<string> {
    let info: PhoneInfo;
    try {
      info = await this.deps.wechat.getPhoneNumber(code, user.openid, user.appid);
    } catch (err) {
      // A double tap: the other request used the code first. Its result is ours too.
      if (err instanceof AppError && err.code === 'INVALID_PHONE_CODE') {
        const stored = await this.deps.codes.lookup(codeId, user.userId).catch(() => undefined);
        if (stored) return stored;
      }
      throw err;
    }
    const verified: PhoneBinding = { ...info, verifiedAt: this.now().toISOString() };
    return seal(CODE_PURPOSE, code, JSON.stringify(verified));
  }

  /**
   * Step 3: the result kept with the lease, in Redis; or, when Redis could not be asked, the
   * lease on the user row. Refused once the user's deletion has begun.
   */
  private async lease(user: Holder, codeId: string, sealed: string, lease: BindingLease, log: Logger): Promise<BindingLease & { onRow: boolean }> {
    let kept: 'kept' | 'deleting';
    try {
      kept = await this.deps.codes.remember(codeId, user.userId, sealed, PHONE_CODE_TTL_SECONDS, lease);
    } catch (err) {
      // The binding goes on under the row's lease; only a retry of this code would have to ask WeChat again.
      log.warn('could not keep the phone code result', { errorCode: (err as AppError).code });
      return { ...lease, token: await this.deps.leases.lease(user, lease.until, lease.number), onRow: true };
    }
    if (kept === 'deleting') throw accountBeingDeleted();
    return { ...lease, onRow: false };
  }

  private opened(code: string, sealed: string): PhoneBinding {
    try {
      return JSON.parse(open(CODE_PURPOSE, code, sealed)) as PhoneBinding;
    } catch (err) {
      throw new AppError('INTERNAL', 'stored phone code result cannot be opened', { cause: err });
    }
  }

  private async claimAndBind(user: Holder, binding: PhoneBinding, lease: BindingLease, progress: { claimSent: boolean }, log: Logger): Promise<void> {
    const { phones, conflict, mask } = this.deps;
    const number = e164(binding);
    // Logs carry the number masked, in WeChat's own form (138****8000, +1 415****123).
    const shown = mask(binding.phoneNumber);
    const now = this.now().getTime();
    leaseLeft(lease.until, this.deps.writeBudgetMs, now);
    progress.claimSent = true;
    const claim = await phones.claim(number, user, now);
    if (!claim.claimed) {
      progress.claimSent = false; // refused: nothing of ours was written
      const { holder } = claim;
      const holderVerifiedAt = await phones.confirms(holder, number);
      if (holderVerifiedAt !== undefined) {
        // The latest verified holder may take it (move); never an older verification, such as
        // the replay of a code exchanged before the holder's.
        if (conflict === 'reject' || binding.verifiedAt <= holderVerifiedAt) {
          log.info('phone number bound to another user: refused', { userId: user.userId, holderUserId: holder.userId, phone: shown });
          throw new AppError('PHONE_IN_USE');
        }
        // PHONE_CONFLICT=move: the latest verified holder takes it. Off the old row first, so
        // that no row ever holds a number whose claim names someone else.
        await phones.unbind(holder, number);
        log.warn('phone number moved to its newest verified holder', { userId: user.userId, fromUserId: holder.userId, phone: shown });
      } else if (now - claim.claimedAt < CLAIM_GRACE_MS) {
        // Not on the holder's row yet: another user's binding may be in flight. It wins.
        throw new AppError('PHONE_IN_USE');
      }
      leaseLeft(lease.until, this.deps.writeBudgetMs, this.now().getTime());
      progress.claimSent = true;
      if (!(await phones.takeOver(number, claim, user, now))) {
        // Someone else got there between our read and our write: one of us wins.
        throw new AppError('PHONE_IN_USE');
      }
    }
    const replaced = await phones.bind(user, number, binding, lease.token);
    if (replaced && replaced !== number) {
      await phones.release(replaced, user).catch((err: unknown) => {
        // Left over, and taken by whoever needs it: the row no longer confirms it.
        log.warn('could not free the replaced phone number', { errorCode: (err as AppError).code, phone: shownE164(replaced, mask) });
      });
    }
    log.info('phone number bound', { userId: user.userId, phone: shown, replaced: replaced && replaced !== number ? shownE164(replaced, mask) : undefined });
  }
}
