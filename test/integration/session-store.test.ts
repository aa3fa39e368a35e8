import { beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../lib/adapters/redis';
import { loadRedisConfig } from '../../lib/config';
import { RedisSessionStore } from '../../lib/adapters/redis-sessions';
import { publicSessionId } from '../../lib/sessions/public-id';
import type { CodeAttempt, CommitLogin } from '../../lib/sessions/ports';
import { exited, runScript } from '../support/dev-server';
import { redisCommand, useLocalStack } from '../support/local';

/** The Redis adapter against real redis-server (through the Upstash gateway), with a chosen clock. */
describe('Class: RedisSessionStore (integration)', () => {
  const ctx = useLocalStack();
  let store: RedisSessionStore;
  const prefix = `store-test-${Math.random().toString(36).slice(2)}:`;
  const T = Date.now();

  beforeAll(() => {
    store = new RedisSessionStore(createRedisClient(loadRedisConfig(ctx.env)), { keyPrefix: prefix, userIndexTtlSeconds: 60 });
  });

  const pttl = async (key: string) => Number(await redisCommand(ctx.redis, 'PTTL', key));
  const exists = async (key: string) => (await redisCommand(ctx.redis, 'EXISTS', key)) === 1;

  function login(sessionId: string, userId: string, overrides: Partial<CommitLogin['session']> = {}): CommitLogin {
    return {
      attempt: { codeId: `code-${sessionId}`, loginId: `L-${sessionId}` },
      tokenHash: sessionId,
      session: { userId, openid: `o-${userId}`, sealedSessionKey: 'sealed', issuedAt: T, maxExpiresAt: T + 10_000, ...overrides },
      ttlSeconds: 4,
      codeResult: '{"r":1}',
      codeTtlSeconds: 300,
      newUser: false,
    };
  }
  /** A whole login's writes: claim, then commit. */
  async function saveWith(target: RedisSessionStore, input: CommitLogin): Promise<void> {
    await target.claimCode({ ...input.attempt, proofHash: '' }, 30);
    expect(await target.commitLogin(input)).toEqual({ state: 'committed', isNewUser: false });
  }
  const save = (input: CommitLogin) => saveWith(store, input);
  const attempt = (codeId: string, loginId: string, proofHash = ''): CodeAttempt => ({ codeId, loginId, proofHash });

  describe('Method: claimCode', () => {
    it('claims a new code, reports it pending to another request, and done once committed', async () => {
      await expect(store.claimCode(attempt('c1', 'L1'), 30)).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode(attempt('c1', 'L2'), 30)).resolves.toEqual({ state: 'pending' });
      await expect(store.commitLogin({ ...login('s-c1', 'u-c1'), attempt: { codeId: 'c1', loginId: 'L1' }, codeResult: 'result-1' })).resolves.toEqual({ state: 'committed', isNewUser: false });
      await expect(store.claimCode(attempt('c1', 'L3'), 30)).resolves.toEqual({ state: 'done', result: 'result-1', isNewUser: false });
    });

    it('answers a done code whose session has ended since (logout, expiry) as spent, with what it had answered (the login tells a suspension by it, and never replays it)', async () => {
      await store.claimCode(attempt('c-spent', 'L1'), 30);
      await store.commitLogin({ ...login('s-spent', 'u-spent'), attempt: { codeId: 'c-spent', loginId: 'L1' }, codeResult: 'result-s' });
      await expect(store.claimCode(attempt('c-spent', 'L2'), 30)).resolves.toMatchObject({ state: 'done' });
      await store.revoke('s-spent', 'u-spent');
      await expect(store.claimCode(attempt('c-spent', 'L3'), 30)).resolves.toEqual({ state: 'spent', result: 'result-s' });
    });

    it('replays a result stored before the token hash was kept (d|<loginId>|{…}) as before', async () => {
      await redisCommand(ctx.redis, 'SET', `${prefix}code:c-old`, 'd|L1|{"userId":"u"}', 'EX', '60');
      await expect(store.claimCode(attempt('c-old', 'L2'), 30)).resolves.toEqual({ state: 'done', result: '{"userId":"u"}' });
    });

    it('answers the same claim sent twice as claimed, counting it once against the limit', async () => {
      const limit = { caller: `twice-${T}`, limit: 1, windowSeconds: 60, now: T };
      await expect(store.claimCode(attempt('c-twice', 'L1'), 30, limit)).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode(attempt('c-twice', 'L1'), 30, limit)).resolves.toEqual({ state: 'claimed' });
    });

    it('lets the same client’s newer attempt (same proof) take over a claim, and no one else', async () => {
      await store.claimCode(attempt('c-take', 'L2', 'proof-a'), 30);
      await expect(store.claimCode(attempt('c-take', 'L3', 'proof-b'), 30)).resolves.toEqual({ state: 'pending' });
      await expect(store.claimCode(attempt('c-take', 'L3', ''), 30)).resolves.toEqual({ state: 'pending' });
      await expect(store.claimCode(attempt('c-take', 'L1', 'proof-a'), 30)).resolves.toEqual({ state: 'pending' });
      await expect(store.claimCode(attempt('c-take', 'L4', 'proof-a'), 30)).resolves.toEqual({ state: 'claimed' });
      // The overtaken request can no longer commit.
      await expect(store.commitLogin({ ...login('s-take', 'u-take'), attempt: { codeId: 'c-take', loginId: 'L2' } })).resolves.toEqual({ state: 'fenced' });
      expect(await exists(`${prefix}session:s-take`)).toBe(false);
    });
  });

  describe('Method: commitLogin, whether the user is new', () => {
    const ask = (sessionId: string, userId: string): CommitLogin => ({ ...login(sessionId, userId), newUser: 'ask' });
    async function commit(input: CommitLogin) {
      await store.claimCode({ ...input.attempt, proofHash: '' }, 30);
      return store.commitLogin(input);
    }

    it('tells exactly the first commit that asks that the user is new, and every copy and replay of it the same', async () => {
      const first = ask('s-w1', 'u-w');
      await expect(commit(first)).resolves.toEqual({ state: 'committed', isNewUser: true });
      expect(await redisCommand(ctx.redis, 'GET', `${prefix}welcomed:u-w`)).toBe('1');
      expect(await pttl(`${prefix}welcomed:u-w`), 'kept until the account is deleted').toBe(-1);
      // A second copy of the commit, its release after a lost answer, and a replay of the code.
      await expect(store.commitLogin(first)).resolves.toEqual({ state: 'committed', isNewUser: true });
      await expect(store.releaseCode(first.attempt, 300)).resolves.toEqual({ state: 'committed', isNewUser: true });
      await expect(store.claimCode(attempt(first.attempt.codeId, 'L-later'), 30)).resolves.toMatchObject({ state: 'done', isNewUser: true });
      // Any later login that asks is a returning one.
      await expect(commit(ask('s-w2', 'u-w'))).resolves.toEqual({ state: 'committed', isNewUser: false });
    });

    it('sets no mark for a login that knows the answer, and none for a fenced one', async () => {
      await expect(commit({ ...login('s-k', 'u-k'), newUser: true })).resolves.toEqual({ state: 'committed', isNewUser: true });
      expect(await exists(`${prefix}welcomed:u-k`)).toBe(false);
      const fenced = ask('s-f', 'u-f');
      await store.claimCode({ ...fenced.attempt, proofHash: '' }, 30);
      await store.releaseCode(fenced.attempt, 300);
      await expect(store.commitLogin(fenced)).resolves.toEqual({ state: 'fenced' });
      expect(await exists(`${prefix}welcomed:u-f`)).toBe(false);
    });

    it('forgets the mark when the user is purged (a deleted account)', async () => {
      await commit(ask('s-p', 'u-p'));
      await redisCommand(ctx.redis, 'SET', `${prefix}phone-leases:u-p`, 'x');
      await store.purgeUser('u-p', { index: `${prefix}phone-codes:u-p`, others: [`${prefix}phone-leases:u-p`] });
      expect(await exists(`${prefix}phone-leases:u-p`), 'the other keys named go too').toBe(false);
      expect(await exists(`${prefix}welcomed:u-p`)).toBe(false);
    });
  });

  describe('Method: releaseCode', () => {
    it('frees a released code for the next request', async () => {
      await store.claimCode(attempt('c2', 'L1'), 30);
      await expect(store.releaseCode({ codeId: 'c2', loginId: 'L1' }, 300)).resolves.toEqual({ state: 'released' });
      await expect(store.claimCode(attempt('c2', 'L2'), 30)).resolves.toEqual({ state: 'claimed' });
    });

    it('fences a claim that arrives after its release: it stays released', async () => {
      await expect(store.releaseCode({ codeId: 'c-late', loginId: 'L1' }, 300)).resolves.toEqual({ state: 'released' });
      await expect(store.claimCode(attempt('c-late', 'L1'), 30)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(await redisCommand(ctx.redis, 'GET', `${prefix}code:c-late`)).toBe('r|L1');
    });

    it('fences a commit that arrives after its release: no session, no result', async () => {
      const input = login('s-fenced', 'u-fenced');
      await store.claimCode({ ...input.attempt, proofHash: '' }, 30);
      await store.releaseCode(input.attempt, 300);
      await expect(store.commitLogin(input)).resolves.toEqual({ state: 'fenced' });
      expect(await exists(`${prefix}session:s-fenced`)).toBe(false);
      expect(await exists(`${prefix}user-sessions:u-fenced`)).toBe(false);
    });

    it('reports a commit whose answer was lost as committed, and leaves it in place', async () => {
      const input = login('s-lost', 'u-lost');
      await save(input);
      await expect(store.releaseCode(input.attempt, 300)).resolves.toEqual({ state: 'committed', isNewUser: false });
      await expect(store.commitLogin(input)).resolves.toEqual({ state: 'committed', isNewUser: false });
      await expect(store.touch('s-lost', T, 4000)).resolves.toMatchObject({ userId: 'u-lost' });
    });

    it('leaves a code that another request holds alone', async () => {
      await store.claimCode(attempt('c-other', 'L2', 'p'), 30);
      await expect(store.releaseCode({ codeId: 'c-other', loginId: 'L1' }, 300)).resolves.toEqual({ state: 'taken' });
      await expect(store.claimCode(attempt('c-other', 'L9', 'q'), 30)).resolves.toEqual({ state: 'pending' });
    });
  });

  describe('Method: claimCode with a rate limit', () => {
    const W = 10_000;
    const base = Math.floor(T / W) * W + W; // the start of a window
    const limit = (now: number) => ({ caller: `ip-${base}`, limit: 2, windowSeconds: W / 1000, now });

    it('allows the limit per window, refuses the next, and counts the previous window by its overlap', async () => {
      await expect(store.claimCode(attempt('rl-1', 'L'), 30, limit(base + 1000))).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode(attempt('rl-2', 'L'), 30, limit(base + 2000))).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode(attempt('rl-3', 'L'), 30, limit(base + 3000))).resolves.toEqual({ state: 'limited', retryAfterSeconds: 7 });
      // Half-way into the next window the 2 earlier attempts weigh 1: one more is allowed (1 + 0 < 2),
      // then at that same instant no more (1 + 1 = 2).
      await expect(store.claimCode(attempt('rl-4', 'L'), 30, limit(base + W + W / 2))).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode(attempt('rl-5', 'L'), 30, limit(base + W + W / 2))).resolves.toMatchObject({ state: 'limited' });
      // As the earlier window slides out, room comes back: at 80 % in, 2 × 0.2 + 1 = 1.4 < 2.
      await expect(store.claimCode(attempt('rl-5b', 'L'), 30, limit(base + W + (W * 4) / 5))).resolves.toEqual({ state: 'claimed' });
      // Two windows on, the slate is clean.
      await expect(store.claimCode(attempt('rl-6', 'L'), 30, limit(base + 3 * W))).resolves.toEqual({ state: 'claimed' });
    });

    it('does not claim the code of a refused attempt', async () => {
      const refused = { caller: 'ip-refused', limit: 1, windowSeconds: 60, now: T };
      await store.claimCode(attempt('rl-a', 'L'), 30, refused);
      await expect(store.claimCode(attempt('rl-b', 'L'), 30, refused)).resolves.toMatchObject({ state: 'limited' });
      expect(await exists(`${prefix}code:rl-b`)).toBe(false);
    });
  });

  describe('Method: touch', () => {
    it('returns the identity and slides the expiry to a full TTL', async () => {
      await save(login('s1', 'u1', { unionid: 'n1' }));
      await expect(store.touch('s1', T + 1000, 4000)).resolves.toEqual({ sessionId: 's1', userId: 'u1', openid: 'o-u1', unionid: 'n1' });
      expect(await pttl(`${prefix}session:s1`)).toBeGreaterThan(3500);
    });

    it('never extends a session past its absolute cap', async () => {
      await save(login('s2', 'u2'));
      await store.touch('s2', T + 8000, 4000);
      const left = await pttl(`${prefix}session:s2`);
      expect(left).toBeLessThanOrEqual(2000);
      expect(left).toBeGreaterThan(0);
    });

    it('refuses and deletes a session past its absolute cap', async () => {
      await save(login('s3', 'u3'));
      await expect(store.touch('s3', T + 10_000, 4000)).resolves.toBeNull();
      expect(await exists(`${prefix}session:s3`)).toBe(false);
    });

    it('answers null for an unknown session without creating it', async () => {
      await expect(store.touch('nope', T, 4000)).resolves.toBeNull();
      expect(await exists(`${prefix}session:nope`)).toBe(false);
    });
  });

  describe('Method: revoke / revokeAll', () => {
    it('revokes one session and keeps the user’s others', async () => {
      await save(login('s4', 'u4'));
      await save(login('s5', 'u4'));
      await store.revoke('s4', 'u4');
      await expect(store.touch('s4', T, 4000)).resolves.toBeNull();
      await expect(store.touch('s5', T, 4000)).resolves.toMatchObject({ userId: 'u4' });
    });

    it('revokes every session of a user through the index, and no one else’s', async () => {
      for (const id of ['s6', 's7', 's8']) await save(login(id, 'u6'));
      await save(login('s9', 'u9'));
      await expect(store.revokeAll('u6')).resolves.toBe(3);
      for (const id of ['s6', 's7', 's8']) await expect(store.touch(id, T, 4000)).resolves.toBeNull();
      await expect(store.touch('s9', T, 4000)).resolves.toMatchObject({ userId: 'u9' });
      await expect(store.revokeAll('u6')).resolves.toBe(0);
    });

    it('revokes every session of every user on the emergency switch, and nothing else in Redis', async () => {
      const own = new RedisSessionStore(createRedisClient(loadRedisConfig(ctx.env)), { keyPrefix: `${prefix}all:`, userIndexTtlSeconds: 60 });
      for (let i = 0; i < 30; i++) await saveWith(own, login(`e${i}`, `ue${i % 7}`));
      await redisCommand(ctx.redis, 'SET', `${prefix}all:unrelated`, 'keep');
      await expect(own.revokeEverything()).resolves.toBe(30);
      await expect(own.touch('e0', T, 4000)).resolves.toBeNull();
      expect(await redisCommand(ctx.redis, 'KEYS', `${prefix}all:user-sessions:*`)).toEqual([]);
      expect(await redisCommand(ctx.redis, 'GET', `${prefix}all:unrelated`)).toBe('keep');
      // A replay of a code whose session was revoked hands out nothing (spent, as INVALID_CODE).
      await expect(own.claimCode(attempt('code-e1', 'L-other'), 30)).resolves.toMatchObject({ state: 'spent' });
    });

    it('is what `npm run revoke` does (npm run users -- revoke), for one user, one session, or all', async () => {
      const user = '01KAXCL1000000000000000000';
      for (const id of ['cli-1', 'cli-2', 'cli-3']) await save(login(id, user));
      const env = { ...ctx.env, REDIS_KEY_PREFIX: prefix };
      const one = runScript('scripts/users.ts', env, ['revoke', '--session', publicSessionId('cli-3'), user]);
      expect(await exited(one.child), one.output()).toBe(0);
      expect(one.output()).toContain(`ended session ${publicSessionId('cli-3')} of user ${user}`);
      await expect(store.touch('cli-3', T, 4000)).resolves.toBeNull();
      await expect(store.touch('cli-1', T, 4000)).resolves.not.toBeNull();
      const again = runScript('scripts/users.ts', env, ['revoke', '--session', publicSessionId('cli-3'), user]);
      expect(await exited(again.child)).toBe(1);
      expect(again.output()).toContain(`User ${user} has no live session`);

      // The form from before revoke joined npm run users.
      const all = runScript('scripts/users.ts', env, ['revoke', '--user', user]);
      expect(await exited(all.child), all.output()).toBe(0);
      expect(all.output()).toContain(`revoked 2 session(s) of user ${user}`);
      await expect(store.touch('cli-1', T, 4000)).resolves.toBeNull();

      const usage = runScript('scripts/users.ts', env, ['revoke']);
      expect(await exited(usage.child)).toBe(2);
      expect(usage.output()).toContain('usage:');
    }, 30_000);

    it('prunes sessions past their cap from the index at the next login', async () => {
      await save(login('old', 'u10', { issuedAt: T - 20_000, maxExpiresAt: T - 1 }));
      await save(login('new', 'u10'));
      expect(await redisCommand(ctx.redis, 'ZRANGE', `${prefix}user-sessions:u10`, '0', '-1')).toEqual(['new']);
    });
  });
});
