import { describe, expect, it, vi } from 'vitest';
import { hashToken, open, TOKEN_PATTERN } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { LoginService, SESSION_KEY_PURPOSE } from '../../lib/login/service';
import type { WechatAuth } from '../../lib/wechat/client';
import { captureLogger } from '../support/log-capture';
import { FakeWechat, InMemorySessionStore, InMemoryUserRepository } from '../support/fakes';

const NOW = new Date('2026-11-25T08:00:00.000Z');

function setup<W extends WechatAuth = FakeWechat>(wechat: W = new FakeWechat() as unknown as W, rateLimit = { limit: 0, windowSeconds: 60 }) {
  const sessions = new InMemorySessionStore();
  const users = new InMemoryUserRepository();
  let ids = 0;
  const service = new LoginService({
    wechat,
    users,
    sessions,
    newUserId: () => `user-${++ids}`,
    session: { ttlSeconds: 3600, maxAgeSeconds: 86_400 },
    rateLimit,
    now: () => NOW,
  });
  const { logger, lines } = captureLogger();
  return { service, sessions, users, wechat, log: logger, lines };
}

describe('Class: LoginService', () => {
  describe('Method: login', () => {
    it('exchanges the code, records the user and returns a fresh opaque token', async () => {
      const { service, log } = setup();
      const result = await service.login('alice.1', log);
      expect(result).toEqual({ token: expect.stringMatching(TOKEN_PATTERN), expiresIn: 3600, userId: 'user-1', isNewUser: true });
    });

    it('stores the session under the token hash with a sealed session_key, the TTL and the absolute cap', async () => {
      const { service, sessions, log } = setup();
      const { token } = await service.login('alice.1', log);
      const saved = sessions.saved[0]!;
      expect(saved.tokenHash).toBe(hashToken(token));
      expect(saved.ttlSeconds).toBe(3600);
      expect(saved.session).toMatchObject({
        userId: 'user-1',
        openid: 'openid-alice',
        issuedAt: NOW.getTime(),
        maxExpiresAt: NOW.getTime() + 86_400_000,
      });
      expect(saved.session.sealedSessionKey).not.toContain('sk-alice.1');
      expect(open(SESSION_KEY_PURPOSE, token, saved.session.sealedSessionKey)).toBe('sk-alice.1-0123456789');
    });

    it('keeps no raw token in anything it stores', async () => {
      const { service, sessions, log } = setup();
      const { token } = await service.login('alice.1', log);
      expect(JSON.stringify(sessions.saved)).not.toContain(token);
      expect(JSON.stringify([...sessions.codes])).not.toContain(token);
      expect(JSON.stringify([...sessions.codes])).not.toContain('alice.1');
    });

    it('gives one user two different tokens on two logins', async () => {
      const { service, log } = setup();
      const first = await service.login('alice.1', log);
      const second = await service.login('alice.2', log);
      expect(second.userId).toBe(first.userId);
      expect([first.isNewUser, second.isNewUser]).toEqual([true, false]);
      expect(second.token).not.toBe(first.token);
    });

    it('replays the same session for a retried code without calling WeChat again', async () => {
      const { service, wechat, log } = setup();
      const first = await service.login('alice.3', log);
      const retry = await service.login('alice.3', log);
      expect(retry).toEqual(first);
      expect(wechat.calls).toEqual(['alice.3']);
    });

    it('answers LOGIN_IN_PROGRESS with Retry-After while the first request still holds the code', async () => {
      // Prepare: a WeChat call that stays in flight until released
      const inner = new FakeWechat();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const gated: WechatAuth = { code2Session: async (code) => (await gate, inner.code2Session(code)) };
      const { service, log } = setup(gated);

      // Act
      const first = service.login('bob.1', log);
      const duplicate = await service.login('bob.1', log).catch((e: unknown) => e);
      release();

      // Assess
      expect(duplicate).toBeInstanceOf(AppError);
      expect(duplicate).toMatchObject({ code: 'LOGIN_IN_PROGRESS', status: 409, retryAfterSeconds: 1 });
      await expect(first).resolves.toMatchObject({ userId: 'user-1' });
      expect(inner.calls).toEqual(['bob.1']);
    });

    it.each([
      ['WeChat rejects the code', 'INVALID_CODE'],
      ['WeChat is unavailable', 'WECHAT_UNAVAILABLE'],
    ] as const)('releases the claim and stores nothing when %s', async (_name, code) => {
      const wechat = new FakeWechat({ 'carol.1': new AppError(code) });
      const { service, sessions, users, log } = setup(wechat);
      await expect(service.login('carol.1', log)).rejects.toMatchObject({ code });
      expect(sessions.codes.size).toBe(0);
      expect(sessions.saved).toHaveLength(0);
      expect(users.calls).toBe(0);
    });

    it('does not call WeChat when the code cannot be claimed (Redis down)', async () => {
      const { service, sessions, wechat, log } = setup();
      sessions.failOn.claimCode = true;
      await expect(service.login('dave.1', log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(wechat.calls).toHaveLength(0);
    });

    it('issues no token and releases the claim when the user store fails', async () => {
      const { service, sessions, users, log } = setup();
      users.fail = true;
      await expect(service.login('erin.1', log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(sessions.saved).toHaveLength(0);
      expect(sessions.codes.size).toBe(0);
    });

    it('issues no token and removes the user it created when the session cannot be saved; the retry is a clean first login', async () => {
      const { service, sessions, users, log } = setup();
      sessions.failOn.saveLogin = true;
      await expect(service.login('frank.1', log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(users.users.has('openid-frank')).toBe(false);
      expect(sessions.codes.size).toBe(0);

      sessions.failOn.saveLogin = false;
      const retry = await service.login('frank.2', log);
      expect(retry).toMatchObject({ isNewUser: true, token: expect.stringMatching(TOKEN_PATTERN) });
    });

    it('restores a returning user’s row when the session cannot be saved', async () => {
      const { service, sessions, users, log } = setup();
      await service.login('gail.1', log);
      const before = { ...users.users.get('openid-gail')! };
      sessions.failOn.saveLogin = true;
      await expect(service.login('gail.2', log)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(users.undone).toHaveLength(1);
      expect(users.users.get('openid-gail')).toEqual(before);
    });

    it('does not undo anything when the failure came before the user was recorded', async () => {
      const wechat = new FakeWechat({ 'hal.1': new AppError('WECHAT_UNAVAILABLE') });
      const { service, users, log } = setup(wechat);
      await expect(service.login('hal.1', log)).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE' });
      expect(users.undone).toHaveLength(0);
    });

    it('still answers with the original error when releasing the claim fails too', async () => {
      const wechat = new FakeWechat({ 'gina.1': new AppError('WECHAT_UNAVAILABLE') });
      const { service, sessions, log, lines } = setup(wechat);
      sessions.failOn.releaseCode = true;
      await expect(service.login('gina.1', log)).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE' });
      expect(lines.some((line) => line.includes('could not release login code claim'))).toBe(true);
    });

    describe('rate limit per caller', () => {
      it('refuses attempts over the limit with RATE_LIMITED and Retry-After, without calling WeChat', async () => {
        const { service, wechat, log } = setup(new FakeWechat(), { limit: 2, windowSeconds: 60 });
        await service.login('ivy.1', log, '198.51.100.1');
        await service.login('ivy.2', log, '198.51.100.1');
        const err = await service.login('ivy.3', log, '198.51.100.1').catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterSeconds: 60 });
        expect(wechat.calls).toEqual(['ivy.1', 'ivy.2']);
      });

      it('counts each caller separately', async () => {
        const { service, log } = setup(new FakeWechat(), { limit: 1, windowSeconds: 60 });
        await service.login('jo.1', log, '198.51.100.1');
        await expect(service.login('jo.2', log, '198.51.100.2')).resolves.toMatchObject({ isNewUser: false });
      });

      it('answers a caller it already knows to be limited without asking the store again', async () => {
        const { service, sessions, log } = setup(new FakeWechat(), { limit: 1, windowSeconds: 60 });
        await service.login('kai.1', log, '198.51.100.9');
        await expect(service.login('kai.2', log, '198.51.100.9')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
        const claim = vi.spyOn(sessions, 'claimCode');
        await expect(service.login('kai.3', log, '198.51.100.9')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
        expect(claim).not.toHaveBeenCalled();
      });

      it('does not count anything when the limit is 0', async () => {
        const { service, sessions, log } = setup(new FakeWechat(), { limit: 0, windowSeconds: 60 });
        for (let i = 0; i < 5; i++) await service.login(`lou.${i}`, log, '198.51.100.1');
        expect(sessions.attempts.size).toBe(0);
      });
    });

    it('passes unionid from WeChat to the user store', async () => {
      const wechat = new FakeWechat({ 'hank.1': { openid: 'o-hank', sessionKey: 'k', unionid: 'u-hank' } });
      const { service, users, sessions, log } = setup(wechat);
      await service.login('hank.1', log);
      expect(users.users.get('o-hank')?.unionid).toBe('u-hank');
      expect(sessions.saved[0]!.session.unionid).toBe('u-hank');
    });
  });
});
