import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { CLAIM_GRACE_MS, PhoneService, type Holder, type PhoneInfo } from '../../lib/phone/service';
import { captureLogger } from '../support/log-capture';
import { FakePhoneVerifier, InMemoryPhoneCodeStore, InMemoryPhoneRepository } from '../support/fakes';

const T0 = new Date('2026-11-25T08:00:00.000Z');
const ALICE: Holder = { userId: 'U-alice', openid: 'o-alice' };
const BOB: Holder = { userId: 'U-bob', openid: 'o-bob' };
const CN = (pure: string): PhoneInfo => ({ countryCode: '86', purePhoneNumber: pure, phoneNumber: pure });
const mask = (phone: string) => `${phone.slice(0, 3)}****${phone.slice(-4)}`;

function setup(options: { conflict?: 'reject' | 'move'; limit?: number; answers?: ConstructorParameters<typeof FakePhoneVerifier>[0] } = {}) {
  const phones = new InMemoryPhoneRepository();
  phones.rows.set(ALICE.openid, { userId: ALICE.userId });
  phones.rows.set(BOB.openid, { userId: BOB.userId });
  const codes = new InMemoryPhoneCodeStore();
  const wechat = new FakePhoneVerifier(options.answers ?? {});
  let now = T0.getTime();
  const service = new PhoneService({
    wechat,
    phones,
    codes,
    leases: phones,
    writeBudgetMs: 4000,
    conflict: options.conflict ?? 'reject',
    limit: { limit: options.limit ?? 10, windowSeconds: 3600 },
    mask,
    now: () => new Date(now),
  });
  const { logger, lines, entries } = captureLogger();
  return { service, phones, codes, wechat, log: logger, lines, entries, advance: (ms: number) => (now += ms) };
}

describe('Class: PhoneService', () => {
  describe('Method: bind', () => {
    it('binds a free number: the claim and the user row agree, and it answers WeChat’s number', async () => {
      const { service, phones, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
      await expect(service.bind(ALICE, 'a1', log)).resolves.toEqual(CN('13800138000'));
      expect(phones.bound()).toEqual(new Map([['+8613800138000', ALICE.userId]]));
      expect(phones.rows.get(ALICE.openid)?.phone).toMatchObject({ e164: '+8613800138000', verifiedAt: T0.toISOString() });
    });

    it('keeps a number from outside China as WeChat gives it, keyed by E.164', async () => {
      const us = { countryCode: '1', purePhoneNumber: '4155550123', phoneNumber: '+1 4155550123' };
      const { service, phones, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: us } } });
      await expect(service.bind(ALICE, 'a1', log)).resolves.toEqual(us);
      expect(phones.bound().get('+14155550123')).toBe(ALICE.userId);
    });

    it('answers a retried code from the same user without calling WeChat again', async () => {
      const { service, wechat, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
      const first = await service.bind(ALICE, 'a1', log);
      await expect(service.bind(ALICE, 'a1', log)).resolves.toEqual(first);
      expect(wechat.calls).toEqual(['a1']);
    });

    it('refuses another user’s code as INVALID_PHONE_CODE without calling WeChat', async () => {
      const { service, wechat, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
      await service.bind(ALICE, 'a1', log);
      await expect(service.bind(BOB, 'a1', log)).rejects.toMatchObject({ code: 'INVALID_PHONE_CODE', status: 400 });
      expect(wechat.calls).toEqual(['a1']);
    });

    it('replaces the user’s number and frees the old one', async () => {
      const { service, phones, log } = setup({
        answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') }, a2: { openid: ALICE.openid, phone: CN('13900139000') } },
      });
      await service.bind(ALICE, 'a1', log);
      await service.bind(ALICE, 'a2', log);
      expect(phones.bound()).toEqual(new Map([['+8613900139000', ALICE.userId]]));
      expect(phones.claims.has('+8613800138000')).toBe(false);
    });

    it('refuses a number bound to another user with PHONE_IN_USE and changes nothing (the default)', async () => {
      const { service, phones, log, entries } = setup({
        answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') }, b1: { openid: BOB.openid, phone: CN('13800138000') } },
      });
      await service.bind(ALICE, 'a1', log);
      const err = await service.bind(BOB, 'b1', log).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: 'PHONE_IN_USE', status: 409 });
      expect(phones.bound()).toEqual(new Map([['+8613800138000', ALICE.userId]]));
      expect(phones.rows.get(BOB.openid)?.phone).toBeUndefined();
      expect(JSON.stringify(entries())).not.toContain('13800138000');
    });

    it('with PHONE_CONFLICT=move hands the number to its newest verified holder, off the old row, and logs both', async () => {
      const { service, phones, log, entries, advance } = setup({
        conflict: 'move',
        answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') }, b1: { openid: BOB.openid, phone: CN('13800138000') } },
      });
      await service.bind(ALICE, 'a1', log);
      advance(1);
      await expect(service.bind(BOB, 'b1', log)).resolves.toEqual(CN('13800138000'));
      expect(phones.bound()).toEqual(new Map([['+8613800138000', BOB.userId]]));
      expect(phones.rows.get(ALICE.openid)?.phone).toBeUndefined();
      expect(entries()).toContainEqual(expect.objectContaining({ level: 'warn', message: 'phone number moved to its newest verified holder', userId: BOB.userId, fromUserId: ALICE.userId, phone: '138****8000' }));
    });

    it('with PHONE_CONFLICT=move never lets an older verification (a replayed code) take the number back', async () => {
      const { service, phones, log, advance } = setup({
        conflict: 'move',
        answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') }, b1: { openid: BOB.openid, phone: CN('13800138000') } },
      });
      await service.bind(ALICE, 'a1', log);
      advance(1);
      await service.bind(BOB, 'b1', log);
      advance(1);
      await expect(service.bind(ALICE, 'a1', log)).rejects.toMatchObject({ code: 'PHONE_IN_USE' });
      expect(phones.bound()).toEqual(new Map([['+8613800138000', BOB.userId]]));
    });

    it('takes a left-over claim (its holder’s row never got the number) once it is older than any binding takes', async () => {
      const { service, phones, log, advance } = setup({ answers: { b1: { openid: BOB.openid, phone: CN('13800138000') } } });
      phones.claims.set('+8613800138000', { holder: ALICE, claimedAt: T0.getTime() });
      await expect(service.bind(BOB, 'b1', log)).rejects.toMatchObject({ code: 'PHONE_IN_USE' });
      advance(CLAIM_GRACE_MS);
      await expect(service.bind(BOB, 'b1', log)).resolves.toEqual(CN('13800138000'));
      expect(phones.bound()).toEqual(new Map([['+8613800138000', BOB.userId]]));
    });

    it('answers 40029 as INVALID_PHONE_CODE, unless a double tap’s other request stored the result first', async () => {
      const { service, codes, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
      await expect(service.bind(ALICE, 'nope', log)).rejects.toMatchObject({ code: 'INVALID_PHONE_CODE' });
      // The double tap: both miss the store, the first exchanges and stores, the second gets 40029.
      const original = codes.begin.bind(codes);
      codes.begin = async (...args) => ((await original(...args)), { state: 'new' });
      await service.bind(ALICE, 'a1', log);
      await expect(service.bind(ALICE, 'a1', log)).resolves.toEqual(CN('13800138000'));
    });

    it.each([
      ['WeChat is unavailable', new AppError('WECHAT_UNAVAILABLE')],
      ['WeChat refuses the account (48001)', new AppError('WECHAT_ERROR')],
      ['WeChat’s minute quota', new AppError('RATE_LIMITED', undefined, { retryAfterSeconds: 60 })],
    ])('passes %s through and binds nothing', async (_name, error) => {
      const { service, phones, log } = setup({ answers: { a1: error } });
      await expect(service.bind(ALICE, 'a1', log)).rejects.toBe(error);
      expect(phones.claims.size).toBe(0);
    });

    it('limits binding attempts per user with RATE_LIMITED and Retry-After, before WeChat', async () => {
      const { service, wechat, log } = setup({ limit: 2 });
      await service.bind(ALICE, 'x1', log).catch(() => {});
      await service.bind(ALICE, 'x2', log).catch(() => {});
      await expect(service.bind(ALICE, 'x3', log)).rejects.toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterSeconds: 3600 });
      expect(wechat.calls).toEqual(['x1', 'x2']);
    });

    describe('partial failures: nothing half-bound survives the retry', () => {
      it('a row write that failed after the claim: the retry (same code, no second WeChat call) finishes the binding', async () => {
        const { service, phones, wechat, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
        phones.failOn.bind = 'refuse';
        await expect(service.bind(ALICE, 'a1', log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        expect(phones.bound().size).toBe(0);
        phones.failOn = {};
        await service.bind(ALICE, 'a1', log);
        expect(phones.bound()).toEqual(new Map([['+8613800138000', ALICE.userId]]));
        expect(wechat.calls).toEqual(['a1']);
      });

      it('a claim that landed with its answer lost is the user’s own on the retry', async () => {
        const { service, phones, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
        phones.failOn.claim = 'lose';
        await expect(service.bind(ALICE, 'a1', log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        phones.failOn = {};
        await expect(service.bind(ALICE, 'a1', log)).resolves.toEqual(CN('13800138000'));
      });

      it('an old number that could not be freed is left over, and the next user who needs it takes it', async () => {
        const { service, phones, log, advance } = setup({
          answers: {
            a1: { openid: ALICE.openid, phone: CN('13800138000') },
            a2: { openid: ALICE.openid, phone: CN('13900139000') },
            b1: { openid: BOB.openid, phone: CN('13800138000') },
          },
        });
        await service.bind(ALICE, 'a1', log);
        phones.failOn.release = 'refuse';
        await service.bind(ALICE, 'a2', log);
        phones.failOn = {};
        advance(CLAIM_GRACE_MS);
        await expect(service.bind(BOB, 'b1', log)).resolves.toEqual(CN('13800138000'));
        expect(phones.bound()).toEqual(new Map([['+8613900139000', ALICE.userId], ['+8613800138000', BOB.userId]]));
      });

      it('a result that could not be kept only costs the retry a second exchange', async () => {
        const { service, codes, log, lines } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
        codes.failOn.remember = 'refuse';
        await expect(service.bind(ALICE, 'a1', log)).resolves.toEqual(CN('13800138000'));
        expect(lines.some((line) => line.includes('could not keep the phone code result'))).toBe(true);
      });
    });
  });

  describe('Method: bind, beside an account deletion', () => {
    it('takes its lease on the number with the code’s result, in the one Redis step, and no lease on the row', async () => {
      const { service, codes, phones, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
      await service.bind(ALICE, 'a1', log);
      expect(codes.leased.get(ALICE.userId)).toEqual(['+8613800138000']);
      expect(phones.leases.size).toBe(0);
    });

    it('answers 503 and claims nothing once the user’s deletion has begun', async () => {
      const { service, codes, phones, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
      codes.deleting.add(ALICE.userId);
      await expect(service.bind(ALICE, 'a1', log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, retryAfterSeconds: 5 });
      expect(phones.claims.size).toBe(0);
    });

    it('leases on the user row when Redis could not keep the result, and the binding ends that lease', async () => {
      const { service, codes, phones, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
      codes.failOn.remember = 'refuse';
      await service.bind(ALICE, 'a1', log);
      expect(phones.leases.get(ALICE.openid)).toEqual(['+8613800138000']);
      expect(phones.openLeases.size, 'ended by the row write').toBe(0);
    });

    it('ends its row lease when the binding fails (PHONE_IN_USE), and forgets the number it never claimed, so nothing piles up on the row', async () => {
      const { service, codes, phones, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') }, b1: { openid: BOB.openid, phone: CN('13800138000') } } });
      await service.bind(ALICE, 'a1', log);
      codes.failOn.remember = 'refuse';
      await expect(service.bind(BOB, 'b1', log)).rejects.toMatchObject({ code: 'PHONE_IN_USE' });
      expect(phones.leases.get(BOB.openid)).toEqual([]);
      expect(phones.openLeases.size).toBe(0);
    });

    it('keeps the number a failed binding may have claimed on its row lease, for a deletion to free', async () => {
      const { service, codes, phones, log } = setup({ answers: { a1: { openid: ALICE.openid, phone: CN('13800138000') } } });
      codes.failOn.remember = 'refuse';
      phones.failOn.bind = 'refuse';
      await expect(service.bind(ALICE, 'a1', log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(phones.claims.has('+8613800138000')).toBe(true);
      expect(phones.leases.get(ALICE.openid)).toEqual(['+8613800138000']);
      expect(phones.openLeases.size).toBe(0);
    });
  });
});
