import { beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../lib/clients/redis';
import { loadRedisConfig } from '../../lib/config';
import { RedisSessionStore, type SaveLogin } from '../../lib/sessions/store';
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

  function login(sessionId: string, userId: string, overrides: Partial<SaveLogin['session']> = {}): SaveLogin {
    return {
      tokenHash: sessionId,
      session: { userId, openid: `o-${userId}`, sealedSessionKey: 'sealed', issuedAt: T, maxExpiresAt: T + 10_000, ...overrides },
      ttlSeconds: 4,
      codeId: `code-${sessionId}`,
      codeResult: '{"r":1}',
      codeTtlSeconds: 300,
    };
  }

  describe('Method: claimCode', () => {
    it('claims a new code, reports it pending to the next caller, and done once saved', async () => {
      await expect(store.claimCode('c1', 30)).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode('c1', 30)).resolves.toEqual({ state: 'pending' });
      await store.saveLogin({ ...login('s-c1', 'u-c1'), codeId: 'c1', codeResult: 'result-1' });
      await expect(store.claimCode('c1', 30)).resolves.toEqual({ state: 'done', result: 'result-1' });
    });

    it('lets a released code be claimed again', async () => {
      await store.claimCode('c2', 30);
      await store.releaseCode('c2');
      await expect(store.claimCode('c2', 30)).resolves.toEqual({ state: 'claimed' });
    });
  });

  describe('Method: claimCode with a rate limit', () => {
    const W = 10_000;
    const base = Math.floor(T / W) * W + W; // the start of a window
    const limit = (now: number) => ({ caller: `ip-${base}`, limit: 2, windowSeconds: W / 1000, now });

    it('allows the limit per window, refuses the next, and counts the previous window by its overlap', async () => {
      await expect(store.claimCode('rl-1', 30, limit(base + 1000))).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode('rl-2', 30, limit(base + 2000))).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode('rl-3', 30, limit(base + 3000))).resolves.toEqual({ state: 'limited', retryAfterSeconds: 7 });
      // Half-way into the next window the 2 earlier attempts weigh 1: one more is allowed (1 + 0 < 2),
      // then at that same instant no more (1 + 1 = 2).
      await expect(store.claimCode('rl-4', 30, limit(base + W + W / 2))).resolves.toEqual({ state: 'claimed' });
      await expect(store.claimCode('rl-5', 30, limit(base + W + W / 2))).resolves.toMatchObject({ state: 'limited' });
      // As the earlier window slides out, room comes back: at 80 % in, 2 × 0.2 + 1 = 1.4 < 2.
      await expect(store.claimCode('rl-5b', 30, limit(base + W + (W * 4) / 5))).resolves.toEqual({ state: 'claimed' });
      // Two windows on, the slate is clean.
      await expect(store.claimCode('rl-6', 30, limit(base + 3 * W))).resolves.toEqual({ state: 'claimed' });
    });

    it('does not claim the code of a refused attempt', async () => {
      const refused = { caller: 'ip-refused', limit: 1, windowSeconds: 60, now: T };
      await store.claimCode('rl-a', 30, refused);
      await expect(store.claimCode('rl-b', 30, refused)).resolves.toMatchObject({ state: 'limited' });
      expect(await exists(`${prefix}code:rl-b`)).toBe(false);
    });
  });

  describe('Method: touch', () => {
    it('returns the identity and slides the expiry to a full TTL', async () => {
      await store.saveLogin(login('s1', 'u1', { unionid: 'n1' }));
      await expect(store.touch('s1', T + 1000, 4000)).resolves.toEqual({ sessionId: 's1', userId: 'u1', openid: 'o-u1', unionid: 'n1' });
      expect(await pttl(`${prefix}session:s1`)).toBeGreaterThan(3500);
    });

    it('never extends a session past its absolute cap', async () => {
      await store.saveLogin(login('s2', 'u2'));
      await store.touch('s2', T + 8000, 4000);
      const left = await pttl(`${prefix}session:s2`);
      expect(left).toBeLessThanOrEqual(2000);
      expect(left).toBeGreaterThan(0);
    });

    it('refuses and deletes a session past its absolute cap', async () => {
      await store.saveLogin(login('s3', 'u3'));
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
      await store.saveLogin(login('s4', 'u4'));
      await store.saveLogin(login('s5', 'u4'));
      await store.revoke('s4', 'u4');
      await expect(store.touch('s4', T, 4000)).resolves.toBeNull();
      await expect(store.touch('s5', T, 4000)).resolves.toMatchObject({ userId: 'u4' });
    });

    it('revokes every session of a user through the index, and no one else’s', async () => {
      for (const id of ['s6', 's7', 's8']) await store.saveLogin(login(id, 'u6'));
      await store.saveLogin(login('s9', 'u9'));
      await expect(store.revokeAll('u6')).resolves.toBe(3);
      for (const id of ['s6', 's7', 's8']) await expect(store.touch(id, T, 4000)).resolves.toBeNull();
      await expect(store.touch('s9', T, 4000)).resolves.toMatchObject({ userId: 'u9' });
      await expect(store.revokeAll('u6')).resolves.toBe(0);
    });

    it('revokes every session of every user on the emergency switch, and nothing else in Redis', async () => {
      const own = new RedisSessionStore(createRedisClient(loadRedisConfig(ctx.env)), { keyPrefix: `${prefix}all:`, userIndexTtlSeconds: 60 });
      for (let i = 0; i < 30; i++) await own.saveLogin(login(`e${i}`, `ue${i % 7}`));
      await redisCommand(ctx.redis, 'SET', `${prefix}all:unrelated`, 'keep');
      await expect(own.revokeEverything()).resolves.toBe(30);
      await expect(own.touch('e0', T, 4000)).resolves.toBeNull();
      expect(await redisCommand(ctx.redis, 'KEYS', `${prefix}all:user-sessions:*`)).toEqual([]);
      expect(await redisCommand(ctx.redis, 'GET', `${prefix}all:unrelated`)).toBe('keep');
      await expect(own.claimCode(`code-e1`, 30)).resolves.toMatchObject({ state: 'done' });
    });

    it('is what `npm run revoke` does, for one user or for all', async () => {
      for (const id of ['cli-1', 'cli-2']) await store.saveLogin(login(id, 'u-cli'));
      const env = { ...ctx.env, REDIS_KEY_PREFIX: prefix };
      const one = runScript('scripts/revoke-sessions.ts', env, ['--user', 'u-cli']);
      expect(await exited(one.child)).toBe(0);
      expect(one.output()).toContain('revoked 2 session(s) of user u-cli');
      await expect(store.touch('cli-1', T, 4000)).resolves.toBeNull();

      const usage = runScript('scripts/revoke-sessions.ts', env, []);
      expect(await exited(usage.child)).toBe(2);
      expect(usage.output()).toContain('usage:');
    }, 30_000);

    it('prunes sessions past their cap from the index at the next login', async () => {
      await store.saveLogin(login('old', 'u10', { issuedAt: T - 20_000, maxExpiresAt: T - 1 }));
      await store.saveLogin(login('new', 'u10'));
      expect(await redisCommand(ctx.redis, 'ZRANGE', `${prefix}user-sessions:u10`, '0', '-1')).toEqual(['new']);
    });
  });
});
