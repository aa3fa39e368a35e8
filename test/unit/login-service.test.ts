import { describe, expect, it, vi } from 'vitest';
import { deriveId, hashToken, open, TOKEN_PATTERN } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { LoginService, SESSION_KEY_PURPOSE, type LoginClient } from '../../lib/login/service';
import type { WechatAuth } from '../../lib/login/ports';
import { captureLogger } from '../support/log-capture';
import { FakeWechat, InMemorySessionStore, InMemoryUserRepository } from '../support/fakes';

const NOW = new Date('2026-11-25T08:00:00.000Z');
const PHONE: LoginClient = { network: '198.51.100.7', proof: 'proof-of-the-phone-0123456789' };

function setup<W extends WechatAuth = FakeWechat>(wechat: W = new FakeWechat() as unknown as W, rateLimit = { limit: 0, windowSeconds: 60 }) {
  const sessions = new InMemorySessionStore();
  const users = new InMemoryUserRepository();
  let ids = 0;
  const service = new LoginService({
    wechat,
    users,
    sessions,
    // Increasing, as ULIDs are over time: a retry's login id sorts after the first's.
    newId: () => `id-${String(++ids).padStart(4, '0')}`,
    session: { ttlSeconds: 3600, maxAgeSeconds: 86_400 },
    rateLimit,
    appId: 'wx-this-app',
    now: () => NOW,
    // Every row here is one with welcome marks (see the legacy rule's own test).
    welcomeMarksSince: '2000-01-01T00:00:00.000Z',
  });
  const { logger, lines, entries } = captureLogger();
  /** The user the fake WeChat maps a code's name to. */
  const row = (name: string) => users.users.get(`openid-${name}`);
  return { service, sessions, users, wechat, log: logger, lines, entries, row };
}

describe('Class: LoginService', () => {
  describe('Method: login', () => {
    it('exchanges the code, records the user and returns a fresh opaque token', async () => {
      const { service, log } = setup();
      const result = await service.login('alice.1', log, PHONE);
      expect(result).toEqual({ token: expect.stringMatching(TOKEN_PATTERN), expiresIn: 3600, userId: 'id-0002', isNewUser: true });
    });

    it('answers UNKNOWN_APP for another mini-program’s appid before any store or WeChat call, and logs in with its own', async () => {
      const { service, sessions, wechat, log } = setup();
      await expect(service.login('alice.1', log, { ...PHONE, appid: 'wx-other-app' })).rejects.toMatchObject({ code: 'UNKNOWN_APP', status: 400 });
      expect(wechat.calls).toEqual([]);
      expect(sessions.saved).toEqual([]);
      await expect(service.login('alice.1', log, { ...PHONE, appid: 'wx-this-app' })).resolves.toMatchObject({ isNewUser: true });
      // The session keeps the app it was opened from.
      expect(sessions.saved[0]!.session).toMatchObject({ appid: 'wx-this-app' });
    });

    it('exchanges a code of another configured mini-program with that app’s own exchange, and keeps its AppID with the session', async () => {
      const sessions = new InMemorySessionStore();
      const users = new InMemoryUserRepository();
      const own = new FakeWechat();
      const second = new FakeWechat();
      let ids = 0;
      const service = new LoginService({
        wechat: own,
        moreApps: new Map([['wx-second-app', second]]),
        users,
        sessions,
        newId: () => `id-${++ids}`,
        session: { ttlSeconds: 3600, maxAgeSeconds: 86_400 },
        appId: 'wx-this-app',
        now: () => NOW,
      });
      const { logger } = captureLogger();
      await service.login('alice.1', logger, { ...PHONE, appid: 'wx-second-app' });
      expect(second.calls).toEqual(['alice.1']);
      expect(own.calls).toEqual([]);
      expect(sessions.saved[0]!.session).toMatchObject({ appid: 'wx-second-app' });
      // No appid: the default app's, as before there were several.
      await service.login('bob.1', logger, PHONE);
      expect(own.calls).toEqual(['bob.1']);
      expect(sessions.saved[1]!.session).toMatchObject({ appid: 'wx-this-app' });
      await expect(service.login('carol.1', logger, { ...PHONE, appid: 'wx-third-app' })).rejects.toMatchObject({ code: 'UNKNOWN_APP', message: expect.stringContaining('WECHAT_APPS') });
    });

    it('refuses a suspended user’s login with 403 ACCOUNT_SUSPENDED and the end time (never the reason): no session, no login counted', async () => {
      const { service, sessions, users, log } = setup();
      const { userId } = await service.login('alice.1', log, PHONE);
      const until = NOW.getTime() + 3_600_000;
      sessions.suspended.set(userId, until);
      const refused = await service.login('alice.2', log, PHONE).catch((err: AppError) => err);
      expect(refused).toMatchObject({ code: 'ACCOUNT_SUSPENDED', status: 403, answer: { until: new Date(until).toISOString() } });
      expect(sessions.saved).toHaveLength(1);
      expect(users.users.get('openid-alice')!.loginCount).toBe(1);
      // Lifted: the next login is in.
      sessions.suspended.delete(userId);
      await expect(service.login('alice.3', log, PHONE)).resolves.toMatchObject({ userId });
    });

    it('commits the session under the token hash with a sealed session_key, the TTL and the absolute cap', async () => {
      const { service, sessions, log } = setup();
      const { token } = await service.login('alice.1', log, PHONE);
      const saved = sessions.saved[0]!;
      expect(saved.tokenHash).toBe(hashToken(token));
      expect(saved.ttlSeconds).toBe(3600);
      expect(saved.session).toMatchObject({
        userId: 'id-0002',
        openid: 'openid-alice',
        issuedAt: NOW.getTime(),
        maxExpiresAt: NOW.getTime() + 86_400_000,
      });
      expect(saved.session.sealedSessionKey).not.toContain('sk-alice.1');
      expect(open(SESSION_KEY_PURPOSE, token, saved.session.sealedSessionKey!)).toBe('sk-alice.1-0123456789');
    });

    it('keeps no raw token, code or proof in anything it stores', async () => {
      const { service, sessions, log } = setup();
      const { token } = await service.login('alice.1', log, PHONE);
      const stored = JSON.stringify(sessions.saved) + JSON.stringify([...sessions.codes]);
      expect(stored).not.toContain(token);
      expect(stored).not.toContain('alice.1');
      expect(stored).not.toContain(PHONE.proof);
    });

    it('gives one user two different tokens on two logins, new only the first time', async () => {
      const { service, log, row } = setup();
      const first = await service.login('alice.1', log, PHONE);
      const second = await service.login('alice.2', log, PHONE);
      expect(second.userId).toBe(first.userId);
      expect([first.isNewUser, second.isNewUser]).toEqual([true, false]);
      expect(second.token).not.toBe(first.token);
      expect(row('alice')?.loginCount).toBe(2);
    });

    describe('a retried code', () => {
      it('replays the same session to the same proof from any network, without calling WeChat again', async () => {
        const { service, wechat, log } = setup();
        const first = await service.login('alice.3', log, PHONE);
        const onFourG = await service.login('alice.3', log, { ...PHONE, network: '2001:db8:1:2::/64' });
        expect(onFourG).toEqual(first);
        expect(wechat.calls).toEqual(['alice.3']);
      });

      it('logs the replay at info with the caller and the userId', async () => {
        const { service, log, entries } = setup();
        const { userId } = await service.login('alice.3', log, PHONE);
        await service.login('alice.3', log, PHONE);
        expect(entries()).toContainEqual(expect.objectContaining({ level: 'info', message: 'login replayed for a retried code', caller: PHONE.network, userId }));
      });

      it.each([
        ['another proof', { network: PHONE.network, proof: 'someone-elses-proof-0123456789' }],
        ['no proof', { network: PHONE.network }],
      ])('refuses a replay with %s as INVALID_CODE, without calling WeChat', async (_name, other: LoginClient) => {
        const { service, wechat, log } = setup();
        await service.login('alice.4', log, PHONE);
        await expect(service.login('alice.4', log, other)).rejects.toMatchObject({ code: 'INVALID_CODE', status: 401 });
        expect(wechat.calls).toEqual(['alice.4']);
      });

      it('replays to a client without a proof only on the same network', async () => {
        const { service, log } = setup();
        const first = await service.login('bea.1', log, { network: '203.0.113.5' });
        await expect(service.login('bea.1', log, { network: '203.0.113.5' })).resolves.toEqual(first);
        await expect(service.login('bea.1', log, { network: '203.0.113.6' })).rejects.toMatchObject({ code: 'INVALID_CODE' });
        await expect(service.login('bea.1', log, { network: '203.0.113.5', proof: 'a-proof-it-did-not-send-0123' })).rejects.toMatchObject({ code: 'INVALID_CODE' });
      });
    });

    it('answers LOGIN_IN_PROGRESS with Retry-After to another client while the first request holds the code', async () => {
      // Prepare: a WeChat call that stays in flight until released
      const inner = new FakeWechat();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const gated: WechatAuth = { code2Session: async (code) => (await gate, inner.code2Session(code)) };
      const { service, log } = setup(gated);

      // Act
      const first = service.login('bob.1', log, PHONE);
      const duplicate = await service.login('bob.1', log, { network: '192.0.2.1' }).catch((e: unknown) => e);
      release();

      // Assess
      expect(duplicate).toBeInstanceOf(AppError);
      expect(duplicate).toMatchObject({ code: 'LOGIN_IN_PROGRESS', status: 409, retryAfterSeconds: 1 });
      await expect(first).resolves.toMatchObject({ isNewUser: true });
      expect(inner.calls).toEqual(['bob.1']);
    });

    it.each([
      ['WeChat rejects the code', 'INVALID_CODE'],
      ['WeChat is unavailable', 'WECHAT_UNAVAILABLE'],
    ] as const)('releases the claim and stores nothing when %s', async (_name, code) => {
      const wechat = new FakeWechat({ 'carol.1': new AppError(code) });
      const { service, sessions, users, log } = setup(wechat);
      await expect(service.login('carol.1', log, PHONE)).rejects.toMatchObject({ code });
      expect([...sessions.codes.values()]).toEqual([expect.stringMatching(/^r\|/)]);
      expect(sessions.saved).toHaveLength(0);
      expect(users.calls).toBe(0);
    });

    it('does not call WeChat when the code cannot be claimed (Redis down)', async () => {
      const { service, sessions, wechat, log } = setup();
      sessions.failOn.claimCode = 'refuse';
      await expect(service.login('dave.1', log, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(wechat.calls).toHaveLength(0);
    });

    describe('partial failures: each leaves nothing behind, and the retry succeeds', () => {
      it('a claim that landed with its answer lost is released, so the retry with the same code goes through', async () => {
        const { service, sessions, wechat, log } = setup();
        sessions.failOn.claimCode = 'lose';
        await expect(service.login('dora.1', log, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        sessions.failOn.claimCode = undefined;
        await expect(service.login('dora.1', log, PHONE)).resolves.toMatchObject({ isNewUser: true });
        expect(wechat.calls).toEqual(['dora.1']);
      });

      it('a user write that failed is fenced and reverted: no count, and the next login is still the first', async () => {
        const { service, users, log, row } = setup();
        users.failOn.recordLogin = 'lose';
        await expect(service.login('erin.1', log, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        expect(row('erin')).toMatchObject({ loginCount: 0 });
        users.failOn.recordLogin = undefined;
        await expect(service.login('erin.2', log, PHONE)).resolves.toMatchObject({ isNewUser: true });
        expect(row('erin')).toMatchObject({ loginCount: 1 });
      });

      it('a commit refused outright undoes the user write; the user keeps one identity and the retry is the first login', async () => {
        const { service, sessions, log, row } = setup();
        sessions.failOn.commitLogin = 'refuse';
        await expect(service.login('frank.1', log, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        const reserved = row('frank')?.userId;
        expect(row('frank')).toMatchObject({ loginCount: 0 });
        sessions.failOn.commitLogin = undefined;
        const retry = await service.login('frank.2', log, PHONE);
        expect(retry).toMatchObject({ isNewUser: true, userId: reserved, token: expect.stringMatching(TOKEN_PATTERN) });
      });

      it('a commit that landed with its answer lost is found by the release: the login succeeds, counted once', async () => {
        const { service, sessions, users, log, row } = setup();
        sessions.failOn.commitLogin = 'lose';
        const result = await service.login('gus.1', log, PHONE);
        expect(result).toMatchObject({ isNewUser: true });
        expect(users.undone).toHaveLength(0);
        expect(row('gus')).toMatchObject({ loginCount: 1 });
        // Its replay is the same login.
        sessions.failOn.commitLogin = undefined;
        await expect(service.login('gus.1', log, PHONE)).resolves.toEqual(result);
      });

      it('restores a returning user’s row when the session cannot be committed', async () => {
        const { service, sessions, log, row } = setup();
        await service.login('gail.1', log, PHONE);
        const before = { ...row('gail')! };
        sessions.failOn.commitLogin = 'refuse';
        await expect(service.login('gail.2', log, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        expect(row('gail')).toEqual(before);
      });

      it('leaves the row counted when neither the commit nor the release could be confirmed (a session may exist)', async () => {
        const { service, sessions, users, log, lines } = setup();
        sessions.failOn.commitLogin = 'lose';
        sessions.failOn.releaseCode = 'refuse';
        await expect(service.login('hugo.1', log, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        expect(users.undone).toHaveLength(0);
        expect(lines.some((line) => line.includes('could not release login code claim'))).toBe(true);
        // Once Redis answers again, the same code replays the session that did commit.
        sessions.failOn = {};
        await expect(service.login('hugo.1', log, PHONE)).resolves.toMatchObject({ isNewUser: true });
      });

      it('counts a login whose commit and release both went unanswered (its log entry’s fate unknown), and no other', async () => {
        let unrecorded = 0;
        const sessions = new InMemorySessionStore();
        const service = new LoginService({
          wechat: new FakeWechat() as unknown as WechatAuth,
          users: new InMemoryUserRepository(),
          sessions,
          newId: (() => { let n = 0; return () => `id-${String(++n).padStart(4, '0')}`; })(),
          session: { ttlSeconds: 3600, maxAgeSeconds: 86_400 },
          now: () => NOW,
          welcomeMarksSince: '2000-01-01T00:00:00.000Z',
          onLoginUnrecorded: () => void unrecorded++,
        });
        const { logger } = captureLogger();
        sessions.failOn.commitLogin = 'refuse';
        await expect(service.login('omar.1', logger, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        expect(unrecorded, 'the release answered: nothing unknown').toBe(0);
        sessions.failOn.releaseCode = 'refuse';
        await expect(service.login('omar.2', logger, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        expect(unrecorded).toBe(1);
      });

      it('tells isNewUser on the next login with a fresh code when a failed first login could not be taken back', async () => {
        // Prepare: the first login's user write lands, its commit and release both fail, so its
        // undo never runs and the row stays counted. The user reopens the mini-program later.
        const { service, sessions, users, log } = setup();
        sessions.failOn.commitLogin = 'refuse';
        sessions.failOn.releaseCode = 'refuse';
        await expect(service.login('nina.1', log, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
        expect(users.undone).toHaveLength(0);
        expect(users.rows.get('openid-nina')?.loginCount).toBe(1);
        sessions.failOn = {};

        // Act: fresh codes, as wx.login gives them
        const second = await service.login('nina.2', log, PHONE);
        const third = await service.login('nina.3', log, PHONE);

        // Assess: the first login that succeeded is the new user's, and only it
        expect(second.isNewUser).toBe(true);
        expect(third.isNewUser).toBe(false);
      });

      it('tells isNewUser in the first login only: every later one is answered by the commit from Redis', async () => {
        const { service, sessions, log } = setup();
        const answers = [];
        for (const code of ['olga.1', 'olga.2', 'olga.3']) answers.push((await service.login(code, log, PHONE)).isNewUser);
        expect(answers).toEqual([true, false, false]);
        expect(sessions.saved.map((s) => s.newUser)).toEqual(['ask', 'ask', 'ask']);
      });

      it('keeps the old rule (the login that counted 1) for rows made before the welcome marks', async () => {
        const sessions = new InMemorySessionStore();
        const users = new InMemoryUserRepository();
        let ids = 0;
        const service = new LoginService({ wechat: new FakeWechat(), users, sessions, newId: () => `id-${++ids}`, session: { ttlSeconds: 60, maxAgeSeconds: 600 }, now: () => NOW, welcomeMarksSince: '2099-01-01T00:00:00.000Z' });
        const { logger } = captureLogger();
        expect((await service.login('pia.1', logger, PHONE)).isNewUser).toBe(true);
        expect((await service.login('pia.2', logger, PHONE)).isNewUser).toBe(false);
        expect(sessions.welcomed.size, 'no welcome mark asked for').toBe(0);
      });

      it('answers a replay of a code whose session has ended since with 401 INVALID_CODE, never the dead token', async () => {
        const { service, sessions, log } = setup();
        const first = await service.login('quin.1', log, PHONE);
        await expect(service.login('quin.1', log, PHONE)).resolves.toEqual(first);
        sessions.ended.add(hashToken(first.token)); // logged out
        await expect(service.login('quin.1', log, PHONE)).rejects.toMatchObject({ code: 'INVALID_CODE', status: 401 });
      });

      it('a failed login is taken back even when another device’s login wrote the row in between', async () => {
        // Prepare: this login's commit waits until the other device has logged in, then fails
        const { service, sessions, log, row } = setup();
        await service.login('lia.1', log, PHONE);
        const commit = sessions.commitLogin.bind(sessions);
        let otherDevice!: Promise<unknown>;
        sessions.commitLogin = async (input) => {
          if (input.attempt.codeId === deriveId('login-code', 'lia.2')) {
            otherDevice = service.login('lia.3', log, { network: '192.0.2.9', proof: 'the-other-device-proof-0123' });
            await otherDevice;
            throw new AppError('SERVICE_UNAVAILABLE', 'refused');
          }
          return commit(input);
        };

        // Act
        await expect(service.login('lia.2', log, PHONE)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

        // Assess: two logins succeeded (lia.1, lia.3), and the count says so
        await expect(otherDevice).resolves.toMatchObject({ isNewUser: false });
        expect(row('lia')).toMatchObject({ loginCount: 2 });
      });

      it('the same client’s retry takes over a claim whose owner vanished; the overtaken request cannot commit', async () => {
        // Prepare: the first request's WeChat call hangs; the client gives up and retries
        const inner = new FakeWechat();
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let calls = 0;
        const firstHangs: WechatAuth = { code2Session: async (code) => (++calls === 1 ? (await gate, inner.code2Session(code)) : inner.code2Session(code)) };
        const { service, users, log, row } = setup(firstHangs);

        // Act
        const first = service.login('ivan.1', log, PHONE).catch((e: unknown) => e);
        const retry = await service.login('ivan.1', log, PHONE);
        release();

        // Assess: the retry won; the first one's exchange came too late (code used)
        expect(retry).toMatchObject({ isNewUser: true });
        expect(await first).toMatchObject({ code: 'INVALID_CODE' });
        expect(row('ivan')).toMatchObject({ loginCount: 1 });
        expect(users.undone).toHaveLength(0);
      });
    });

    it('does not undo anything when the failure came before the user was recorded', async () => {
      const wechat = new FakeWechat({ 'hal.1': new AppError('WECHAT_UNAVAILABLE') });
      const { service, users, log } = setup(wechat);
      await expect(service.login('hal.1', log, PHONE)).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE' });
      expect(users.undone).toHaveLength(0);
    });

    it('still answers with the original error when releasing the claim fails too', async () => {
      const wechat = new FakeWechat({ 'gina.1': new AppError('WECHAT_UNAVAILABLE') });
      const { service, sessions, log, lines } = setup(wechat);
      sessions.failOn.releaseCode = 'refuse';
      await expect(service.login('gina.1', log, PHONE)).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE' });
      expect(lines.some((line) => line.includes('could not release login code claim'))).toBe(true);
    });

    describe('rate limit per caller', () => {
      const from = (network: string): LoginClient => ({ network });

      it('refuses attempts over the limit with RATE_LIMITED and Retry-After, without calling WeChat', async () => {
        const { service, wechat, log } = setup(new FakeWechat(), { limit: 2, windowSeconds: 60 });
        await service.login('ivy.1', log, from('198.51.100.1'));
        await service.login('ivy.2', log, from('198.51.100.1'));
        const err = await service.login('ivy.3', log, from('198.51.100.1')).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterSeconds: 60 });
        expect(wechat.calls).toEqual(['ivy.1', 'ivy.2']);
      });

      it('counts each caller separately', async () => {
        const { service, log } = setup(new FakeWechat(), { limit: 1, windowSeconds: 60 });
        await service.login('jo.1', log, from('198.51.100.1'));
        await expect(service.login('jo.2', log, from('198.51.100.2'))).resolves.toMatchObject({ isNewUser: false });
      });

      it('answers a caller it already knows to be limited without asking the store again', async () => {
        const { service, sessions, log } = setup(new FakeWechat(), { limit: 1, windowSeconds: 60 });
        await service.login('kai.1', log, from('198.51.100.9'));
        await expect(service.login('kai.2', log, from('198.51.100.9'))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
        const claim = vi.spyOn(sessions, 'claimCode');
        await expect(service.login('kai.3', log, from('198.51.100.9'))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
        expect(claim).not.toHaveBeenCalled();
      });

      it('does not count anything when the limit is 0', async () => {
        const { service, sessions, log } = setup(new FakeWechat(), { limit: 0, windowSeconds: 60 });
        for (let i = 0; i < 5; i++) await service.login(`lou.${i}`, log, from('198.51.100.1'));
        expect(sessions.attempts.size).toBe(0);
      });
    });

    it('passes unionid from WeChat to the user store', async () => {
      const wechat = new FakeWechat({ 'hank.1': { openid: 'o-hank', sessionKey: 'k', unionid: 'u-hank' } });
      const { service, users, sessions, log } = setup(wechat);
      await service.login('hank.1', log, PHONE);
      expect(users.users.get('o-hank')?.unionid).toBe('u-hank');
      expect(sessions.saved[0]!.session.unionid).toBe('u-hank');
    });
  });
});
