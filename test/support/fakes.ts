import { AppError } from '../../lib/errors';
import type { ClaimLimit, CodeAttempt, CodeClaim, CommitLogin, CommitOutcome, Release, SessionStore } from '../../lib/sessions/ports';
import { accountBeingDeleted, type RecordedLogin, type RecordLogin, type User, type UserRepository, type WriteLeases } from '../../lib/users/ports';
import type { WechatAuth, WechatSession } from '../../lib/login/ports';
import type { Claim, CodeLookup, Holder, PhoneBinding, PhoneCodeStore, PhoneInfo, PhoneRepository, PhoneVerifier } from '../../lib/phone/service';

/**
 * How a faked request fails: 'refuse' fails before anything is applied; 'lose' applies it
 * and then fails, as a request whose answer was lost does.
 */
export type Fault = 'refuse' | 'lose';

function fail(): never {
  throw new AppError('SERVICE_UNAVAILABLE', 'store request failed');
}

/** The Redis scripts' semantics in memory (lib/adapters/redis-sessions.ts): claims keyed by login id, fenced commits. */
export class InMemorySessionStore implements SessionStore {
  /** Suspended users (userId → until, or 0), as the suspended mark in Redis. */
  readonly suspended = new Map<string, number>();
  async suspension(userId: string): Promise<{ until?: number; since: number } | null> {
    const until = this.suspended.get(userId);
    return until === undefined ? null : { ...(until ? { until } : {}), since: 0 };
  }

  /** codeId → 'p|<loginId>|<proof>', 'd|<loginId>|<tokenHash>|<new>|<result>' or 'r|<loginId>'. */
  readonly codes = new Map<string, string>();
  readonly saved: CommitLogin[] = [];
  /** Sessions ended since their login (logout, revocation), by token hash. */
  readonly ended = new Set<string>();
  /** Users whose welcome mark is set (their first successful login was told so). */
  readonly welcomed = new Set<string>();
  failOn: Partial<Record<'claimCode' | 'releaseCode' | 'commitLogin', Fault>> = {};

  /** Attempts seen per caller, and the limit the use case asked for. */
  readonly attempts = new Map<string, number>();

  async claimCode(attempt: CodeAttempt, _ttlSeconds: number, limit?: ClaimLimit): Promise<CodeClaim> {
    return this.run('claimCode', () => {
      const current = this.codes.get(attempt.codeId);
      const mine = `p|${attempt.loginId}|`;
      if (current?.startsWith(mine)) return { state: 'claimed' };
      if (limit) {
        const seen = this.attempts.get(limit.caller) ?? 0;
        if (seen >= limit.limit) return { state: 'limited', retryAfterSeconds: limit.windowSeconds };
        this.attempts.set(limit.caller, seen + 1);
      }
      if (current?.startsWith('d|')) {
        const [, , tokenHash = '', isNew = '', ...result] = current.split('|');
        if (this.ended.has(tokenHash)) return { state: 'spent' };
        return { state: 'done', result: result.join('|'), isNewUser: isNew === '1' };
      }
      if (current?.startsWith('p|')) {
        const [, owner = '', proof = ''] = current.split('|');
        if (!attempt.proofHash || proof !== attempt.proofHash || owner >= attempt.loginId) return { state: 'pending' };
      }
      this.codes.set(attempt.codeId, mine + attempt.proofHash);
      return { state: 'claimed' };
    });
  }

  async commitLogin(input: CommitLogin): Promise<CommitOutcome> {
    return this.run('commitLogin', () => {
      const current = this.codes.get(input.attempt.codeId) ?? '';
      if (current.startsWith(`d|${input.attempt.loginId}|`)) return { state: 'committed', isNewUser: current.split('|')[3] === '1' };
      if (!current.startsWith(`p|${input.attempt.loginId}|`)) return { state: 'fenced' };
      const until = this.suspended.get(input.session.userId);
      if (until !== undefined) return { state: 'suspended', ...(until ? { until } : {}) };
      let isNewUser = input.newUser === true;
      if (input.newUser === 'ask') {
        isNewUser = !this.welcomed.has(input.session.userId);
        this.welcomed.add(input.session.userId);
      }
      this.saved.push(input);
      this.codes.set(input.attempt.codeId, `d|${input.attempt.loginId}|${input.tokenHash}|${isNewUser ? 1 : 0}|${input.codeResult}`);
      return { state: 'committed', isNewUser };
    });
  }

  async releaseCode(attempt: Pick<CodeAttempt, 'codeId' | 'loginId'>): Promise<Release> {
    return this.run('releaseCode', () => {
      const current = this.codes.get(attempt.codeId);
      if (current?.startsWith(`d|${attempt.loginId}|`)) return { state: 'committed', isNewUser: current.split('|')[3] === '1' };
      if (current && !current.startsWith(`p|${attempt.loginId}|`) && !current.startsWith('r|')) return { state: 'taken' };
      this.codes.set(attempt.codeId, `r|${attempt.loginId}`);
      return { state: 'released' };
    });
  }

  /** Codes whose login is done. */
  doneCount(): number {
    return [...this.codes.values()].filter((value) => value.startsWith('d|')).length;
  }

  private run<T>(operation: keyof InMemorySessionStore['failOn'], apply: () => T): T {
    const fault = this.failOn[operation];
    if (fault === 'refuse') fail();
    const result = apply();
    if (fault === 'lose') fail();
    return result;
  }
}

interface Row extends Partial<User> {
  lastLoginId?: string;
  previousLoginId?: string;
  previousLoginAt?: string;
  undoneLoginId?: string;
}

/** Users by openid with the DynamoDB repository's conditions (lib/adapters/dynamodb-users.ts). */
export class InMemoryUserRepository implements UserRepository {
  readonly rows = new Map<string, Row>();
  calls = 0;
  failOn: Partial<Record<'recordLogin' | 'undoLogin', Fault>> = {};
  readonly undone: string[] = [];

  /** The users that exist: rows with a userId. */
  get users(): Map<string, User> {
    const out = new Map<string, User>();
    for (const [openid, row] of this.rows) {
      if (row.userId) {
        const { lastLoginId: _l, previousLoginId: _pl, previousLoginAt: _p, undoneLoginId: _u, ...user } = row;
        out.set(openid, user as User);
      }
    }
    return out;
  }

  async recordLogin({ openid, unionid, newUserId, loginId, now }: RecordLogin): Promise<RecordedLogin> {
    this.calls++;
    const fault = this.failOn.recordLogin;
    if (fault === 'refuse') fail();
    const at = now.toISOString();
    const row: Row = { ...(this.rows.get(openid) ?? { openid }) };
    if (row.lastLoginId === loginId || row.undoneLoginId === loginId) throw new AppError('SERVICE_UNAVAILABLE', 'condition failed');
    row.userId ??= newUserId;
    row.createdAt ??= at;
    row.previousLoginAt = row.lastLoginAt ?? at;
    row.lastLoginAt = at;
    row.previousLoginId = row.lastLoginId ?? '-';
    row.lastLoginId = loginId;
    row.loginCount = (row.loginCount ?? 0) + 1;
    if (unionid) row.unionid = unionid;
    this.rows.set(openid, row);
    if (fault === 'lose') fail();
    return { user: this.users.get(openid)! };
  }

  async undoLogin(openid: string, loginId: string, landed: boolean): Promise<void> {
    this.undone.push(loginId);
    const fault = this.failOn.undoLogin;
    if (fault === 'refuse') fail();
    const existing = this.rows.get(openid);
    // The fence goes on a live row; with no row, only a write of unknown fate gets a fence row.
    if (!existing?.userId) {
      if (!landed) this.rows.set(openid, { openid, undoneLoginId: loginId });
      if (fault === 'lose') fail();
      return;
    }
    const row: Row = { ...existing, undoneLoginId: loginId };
    if (row.lastLoginId === loginId) {
      row.lastLoginAt = row.previousLoginAt;
      delete row.lastLoginId;
      row.loginCount = (row.loginCount ?? 1) - 1;
    } else if (row.previousLoginId === loginId) {
      row.previousLoginId = '-';
      row.loginCount = (row.loginCount ?? 1) - 1;
    }
    this.rows.set(openid, row);
    if (fault === 'lose') fail();
  }

  /** Moves a row of `from` to `into`, as the DynamoDB repository does. */
  readonly moved: string[] = [];
  async moveIdentity(from: { userId: string; openid: string }, into: { userId: string; home: string }): Promise<void> {
    const row = this.rows.get(from.openid) as (Row & { home?: string }) | undefined;
    if (row?.userId === from.userId) {
      this.rows.set(from.openid, { ...row, userId: into.userId, ...(into.home === from.openid ? {} : { home: into.home }) } as Row);
      this.moved.push(from.openid);
    }
  }

  /** Drops a secondary identity's row (one with a `home`), as the DynamoDB repository's condition does. */
  readonly dropped: string[] = [];
  async dropIdentity(owner: { userId: string; openid: string }): Promise<void> {
    const row = this.rows.get(owner.openid) as (Row & { home?: string }) | undefined;
    if (row?.userId === owner.userId && row.home) {
      this.rows.delete(owner.openid);
      this.dropped.push(owner.openid);
    }
  }
}

/** WeChat by table: code → session, or code → error to throw. Each code is accepted once, as WeChat does. */
export class FakeWechat implements WechatAuth {
  readonly calls: string[] = [];
  private readonly used = new Set<string>();
  constructor(private readonly answers: Record<string, WechatSession | AppError> = {}) {}

  async code2Session(code: string): Promise<WechatSession> {
    this.calls.push(code);
    const answer = this.answers[code] ?? { openid: `openid-${code.split('.')[0]}`, sessionKey: `sk-${code}-0123456789` };
    if (answer instanceof AppError) throw answer;
    if (this.used.has(code)) throw new AppError('INVALID_CODE', 'code been used', { details: { errcode: 40163 } });
    this.used.add(code);
    return answer;
  }
}

/** Claims and user rows with the DynamoDB phone repository's conditions (lib/adapters/dynamodb-phones.ts). */
export class InMemoryPhoneRepository implements PhoneRepository, WriteLeases {
  readonly claims = new Map<string, Claim>();
  /** openid → { userId, phone } */
  readonly rows = new Map<string, { userId: string; phone?: PhoneBinding & { e164: string }; replacedPhone?: string }>();
  failOn: Partial<Record<'claim' | 'bind' | 'release' | 'takeOver' | 'unbind', Fault>> = {};

  /** Numbers leased per openid (the users table's leasedPhones); a row gone or deleting refuses. */
  readonly leases = new Map<string, string[]>();
  deleting = new Set<string>();

  /** Lease tokens on the rows that no writer has ended. */
  readonly openLeases = new Set<string>();

  async lease(owner: Holder, until: number, phone?: string): Promise<string> {
    const row = this.rows.get(owner.openid);
    if (!row || row.userId !== owner.userId || this.deleting.has(owner.openid)) throw accountBeingDeleted();
    if (phone) this.leases.set(owner.openid, [...(this.leases.get(owner.openid) ?? []), phone]);
    const token = `${until}:${this.openLeases.size}`;
    this.openLeases.add(token);
    return token;
  }

  async leaseUpload(owner: Holder, until: number): Promise<{ token: string; uploads: number }> {
    return { token: await this.lease(owner, until), uploads: 1 };
  }

  async endLease(owner: Holder, token: string, phone?: string): Promise<void> {
    this.openLeases.delete(token);
    if (phone) this.leases.set(owner.openid, (this.leases.get(owner.openid) ?? []).filter((leased) => leased !== phone));
  }

  async claimsOf(userId: string): Promise<string[]> {
    return [...this.claims].filter(([, claim]) => claim.holder.userId === userId).map(([number]) => number);
  }

  async claim(number: string, owner: Holder, now: number): Promise<{ claimed: true } | ({ claimed: false } & Claim)> {
    return this.run('claim', () => {
      const held = this.claims.get(number);
      if (held && held.holder.userId !== owner.userId) return { claimed: false as const, ...held };
      this.claims.set(number, { holder: owner, claimedAt: now });
      return { claimed: true as const };
    });
  }

  async confirms(holder: Holder, number: string): Promise<string | undefined> {
    const row = this.rows.get(holder.openid);
    return row?.userId === holder.userId && row.phone?.e164 === number ? row.phone.verifiedAt : undefined;
  }

  async takeOver(number: string, seen: Claim, to: Holder, now: number): Promise<boolean> {
    return this.run('takeOver', () => {
      const held = this.claims.get(number);
      if (held?.holder.userId !== seen.holder.userId || held.claimedAt !== seen.claimedAt) return false;
      this.claims.set(number, { holder: to, claimedAt: now });
      return true;
    });
  }

  async unbind(holder: Holder, number: string): Promise<void> {
    this.run('unbind', () => {
      const row = this.rows.get(holder.openid);
      if (row?.userId === holder.userId && row.phone?.e164 === number) delete row.phone;
    });
  }

  async bind(owner: Holder, number: string, binding: PhoneBinding, lease: string): Promise<string | undefined> {
    return this.run('bind', () => {
      const row = this.rows.get(owner.openid);
      if (row?.userId !== owner.userId) throw new AppError('NOT_FOUND');
      this.openLeases.delete(lease);
      // Already holding it (an earlier copy landed): what that copy replaced.
      if (row.phone?.e164 !== number) {
        row.replacedPhone = row.phone?.e164;
        row.phone = { ...binding, e164: number };
      }
      return row.replacedPhone;
    });
  }

  async release(number: string, owner: Holder): Promise<void> {
    this.run('release', () => {
      if (this.claims.get(number)?.holder.userId === owner.userId) this.claims.delete(number);
      const row = this.rows.get(owner.openid);
      if (row?.replacedPhone === number) delete row.replacedPhone;
    });
  }

  /** Numbers bound (claim and row agree), number → userId. */
  bound(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [openid, row] of this.rows) {
      const claim = row.phone && this.claims.get(row.phone.e164);
      if (row.phone && claim?.holder.userId === row.userId && claim.holder.openid === openid) out.set(row.phone.e164, row.userId);
    }
    return out;
  }

  private run<T>(operation: keyof InMemoryPhoneRepository['failOn'], apply: () => T): T {
    const fault = this.failOn[operation];
    if (fault === 'refuse') fail();
    const result = apply();
    if (fault === 'lose') fail();
    return result;
  }
}

/** The Redis phone-code store's semantics in memory: per-user attempts, results bound to a user. */
export class InMemoryPhoneCodeStore implements PhoneCodeStore {
  readonly results = new Map<string, { userId: string; sealed: string }>();
  /** userId → the codes it tried (an attempt is a code). */
  readonly attempts = new Map<string, Set<string>>();
  failOn: Partial<Record<'begin' | 'remember', Fault>> = {};

  async begin(codeId: string, userId: string, limit: { limit: number; windowSeconds: number }): Promise<CodeLookup> {
    if (this.failOn.begin === 'refuse') fail();
    const tried = this.attempts.get(userId) ?? new Set<string>();
    if (limit.limit > 0 && !tried.has(codeId) && tried.size >= limit.limit) return { state: 'limited', retryAfterSeconds: limit.windowSeconds };
    this.attempts.set(userId, tried.add(codeId));
    const stored = this.results.get(codeId);
    if (!stored) return { state: 'new' };
    return stored.userId === userId ? { state: 'done', sealed: stored.sealed } : { state: 'foreign' };
  }

  async lookup(codeId: string, userId: string): Promise<string | undefined> {
    const stored = this.results.get(codeId);
    return stored?.userId === userId ? stored.sealed : undefined;
  }

  /** userId → the numbers its bindings leased; users whose deletion has begun. */
  readonly leased = new Map<string, string[]>();
  readonly deleting = new Set<string>();

  async remember(codeId: string, userId: string, sealed: string, _ttlSeconds: number, lease: { number: string }): Promise<'kept' | 'deleting'> {
    if (this.failOn.remember === 'refuse') fail();
    if (this.deleting.has(userId)) return 'deleting';
    this.results.set(codeId, { userId, sealed });
    this.leased.set(userId, [...(this.leased.get(userId) ?? []), lease.number]);
    return 'kept';
  }
}

/** WeChat's getuserphonenumber by table: code → number (once per code), or an error; checks the code is the openid's. */
export class FakePhoneVerifier implements PhoneVerifier {
  readonly calls: string[] = [];
  private readonly used = new Set<string>();
  constructor(private readonly answers: Record<string, { openid: string; phone: PhoneInfo } | AppError> = {}) {}

  async getPhoneNumber(code: string, openid: string): Promise<PhoneInfo> {
    this.calls.push(code);
    const answer = this.answers[code];
    if (answer instanceof AppError) throw answer;
    if (!answer || answer.openid !== openid || this.used.has(code)) throw new AppError('INVALID_PHONE_CODE', undefined, { details: { errcode: 40029 } });
    this.used.add(code);
    return answer.phone;
  }
}
