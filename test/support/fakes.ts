import { AppError } from '../../lib/errors';
import { PENDING, type ClaimLimit, type CodeClaim, type SaveLogin, type SessionStore } from '../../lib/sessions/store';
import type { LoginReceipt, RecordedLogin, RecordLogin, User, UserRepository } from '../../lib/users/repository';
import type { WechatAuth, WechatSession } from '../../lib/wechat/client';

/** Session store semantics in memory: SET NX GET claims, all-or-nothing saves. */
export class InMemorySessionStore implements SessionStore {
  readonly codes = new Map<string, string>();
  readonly saved: SaveLogin[] = [];
  failOn: Partial<Record<'claimCode' | 'releaseCode' | 'saveLogin', boolean>> = {};

  /** Attempts seen per caller, and the limit the use case asked for. */
  readonly attempts = new Map<string, number>();

  async claimCode(codeId: string, _ttlSeconds: number, limit?: ClaimLimit): Promise<CodeClaim> {
    this.maybeFail('claimCode');
    if (limit) {
      const seen = this.attempts.get(limit.caller) ?? 0;
      if (seen >= limit.limit) return { state: 'limited', retryAfterSeconds: limit.windowSeconds };
      this.attempts.set(limit.caller, seen + 1);
    }
    const previous = this.codes.get(codeId);
    if (previous === undefined) {
      this.codes.set(codeId, PENDING);
      return { state: 'claimed' };
    }
    return previous === PENDING ? { state: 'pending' } : { state: 'done', result: previous };
  }

  async releaseCode(codeId: string): Promise<void> {
    this.maybeFail('releaseCode');
    this.codes.delete(codeId);
  }

  async saveLogin(input: SaveLogin): Promise<void> {
    this.maybeFail('saveLogin');
    this.saved.push(input);
    this.codes.set(input.codeId, input.codeResult);
  }

  private maybeFail(operation: keyof InMemorySessionStore['failOn']): void {
    if (this.failOn[operation]) throw new AppError('SERVICE_UNAVAILABLE', 'session store request failed');
  }
}

/** Users by openid with the same first-login-wins rule as the DynamoDB UpdateItem. */
export class InMemoryUserRepository implements UserRepository {
  readonly users = new Map<string, User>();
  calls = 0;
  fail = false;

  readonly undone: LoginReceipt[] = [];

  async recordLogin({ openid, unionid, newUserId, now }: RecordLogin): Promise<RecordedLogin> {
    this.calls++;
    if (this.fail) throw new AppError('SERVICE_UNAVAILABLE', 'user store request failed');
    const at = now.toISOString();
    const existing = this.users.get(openid);
    const user: User = existing
      ? { ...existing, lastLoginAt: at, loginCount: existing.loginCount + 1 }
      : { userId: newUserId, openid, createdAt: at, lastLoginAt: at, loginCount: 1 };
    if (unionid) user.unionid = unionid;
    this.users.set(openid, user);
    const receipt: LoginReceipt = existing
      ? { openid, userId: user.userId, isNewUser: false, at, previousLastLoginAt: existing.lastLoginAt }
      : { openid, userId: user.userId, isNewUser: true, at };
    return { user, isNewUser: !existing, receipt };
  }

  async undoLogin(receipt: LoginReceipt): Promise<void> {
    this.undone.push(receipt);
    const current = this.users.get(receipt.openid);
    if (!current || current.lastLoginAt !== receipt.at) return;
    if (receipt.isNewUser) this.users.delete(receipt.openid);
    else this.users.set(receipt.openid, { ...current, lastLoginAt: receipt.previousLastLoginAt!, loginCount: current.loginCount - 1 });
  }
}

/** WeChat by table: code → session, or code → error to throw. */
export class FakeWechat implements WechatAuth {
  readonly calls: string[] = [];
  constructor(private readonly answers: Record<string, WechatSession | AppError> = {}) {}

  async code2Session(code: string): Promise<WechatSession> {
    this.calls.push(code);
    const answer = this.answers[code] ?? { openid: `openid-${code.split('.')[0]}`, sessionKey: `sk-${code}-0123456789` };
    if (answer instanceof AppError) throw answer;
    return answer;
  }
}
