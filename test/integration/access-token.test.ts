import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRedisClient } from '../../lib/adapters/redis';
import { accessTokenKey, createRedisAccessTokenCache, createWechatApi } from '../../lib/adapters/wechat-access-token';
import { dumpRedis, redisCommand, useLocalStack } from '../support/local';

const PHONE_API = '/wxa/business/getuserphonenumber';

/**
 * The access token shared by several containers through the real local stack: redis-server
 * behind the Upstash gateway (which refuses what Upstash would) and the WeChat stub.
 */
describe('Access token shared through Redis (integration)', () => {
  const ctx = useLocalStack();

  /** One Lambda container: its own client and memory; Redis and WeChat shared. `keyPrefix` isolates a test. */
  function container(keyPrefix: string) {
    const { env } = ctx;
    const redis = createRedisClient({ url: env.UPSTASH_REDIS_REST_URL!, token: env.UPSTASH_REDIS_REST_TOKEN!, keyPrefix, timeoutMs: 2000 });
    let fetches = 0;
    const api = createWechatApi({
      appId: env.WECHAT_APPID!,
      appSecret: env.WECHAT_SECRET!,
      apiBase: env.WECHAT_API_BASE!,
      timeoutMs: 3000,
      deadlineMs: 5000,
      cache: createRedisAccessTokenCache(redis, { keyPrefix, appId: env.WECHAT_APPID!, appSecret: env.WECHAT_SECRET! }),
      onTokenFetch: () => fetches++,
    });
    return { api, fetches: () => fetches };
  }

  const unique = () => `test-${randomBytes(4).toString('hex')}:`;
  const phone = (api: ReturnType<typeof container>['api'], code: string) => api.post(PHONE_API, { code, openid: 'o-test' }, { idempotent: false });

  it('asks stable_token at most once in total for two containers over the same Redis', async () => {
    const prefix = unique();
    const tag = randomBytes(4).toString('hex');
    const a = container(prefix);
    const b = container(prefix);
    const before = ctx.stack.wechat.stats.stableTokenCalls;

    const first = await phone(a.api, `13800138000.a0-${tag}`);
    expect(first).toMatchObject({ errcode: 0, phone_info: { purePhoneNumber: '13800138000' } });
    // B starts cold: Redis has the token. Both then serve a burst side by side.
    const burst = await Promise.all(
      Array.from({ length: 20 }, (_, i) => phone(i % 2 ? a.api : b.api, `13800138000.${i}-${tag}`)),
    );
    expect(burst.every((answer) => answer.errcode === 0)).toBe(true);
    expect(ctx.stack.wechat.stats.stableTokenCalls - before).toBe(1);
    expect(a.fetches() + b.fetches()).toBe(1);
  });

  it('refreshes once across containers when WeChat replaces the token (rotate.), and the other container follows through Redis', async () => {
    const prefix = unique();
    const tag = randomBytes(4).toString('hex');
    const a = container(prefix);
    const b = container(prefix);
    await phone(a.api, `13800138000.warm-a-${tag}`);
    await phone(b.api, `13800138000.warm-b-${tag}`);
    const before = { stable: ctx.stack.wechat.stats.stableTokenCalls, phone: ctx.stack.wechat.stats.phoneCalls };

    // A's call meets the replacement: 40001, refresh, retry with the new token, same code.
    const code = `rotate.1-4155550123.${tag}`;
    await expect(phone(a.api, code)).resolves.toMatchObject({ phone_info: { phoneNumber: '+1 4155550123', countryCode: '1' } });
    expect(ctx.stack.wechat.phoneCodeConsumed(code)).toBe(true);
    // B still holds the dead token: refused once, it finds A's new token in Redis (its drop spares it).
    await expect(phone(b.api, `13800138000.after-${tag}`)).resolves.toMatchObject({ errcode: 0 });

    expect(ctx.stack.wechat.stats.stableTokenCalls - before.stable).toBe(1);
    expect(ctx.stack.wechat.stats.phoneCalls - before.phone).toBe(4);
    expect(a.fetches()).toBe(2);
    expect(b.fetches()).toBe(0);
  });

  it('passes the errcodes it does not handle back to the caller', async () => {
    const a = container(unique());
    await expect(phone(a.api, 'errcode.40029')).resolves.toMatchObject({ errcode: 40029, errmsg: expect.stringContaining('invalid code') });
  });

  it('keeps only a sealed token in Redis, with the Redis TTL the margin asks for', async () => {
    const prefix = unique();
    const a = container(prefix);
    await phone(a.api, `13800138000.sealed-${randomBytes(4).toString('hex')}`);
    const dump = await dumpRedis(ctx.redis);
    for (const token of ctx.stack.wechat.stats.accessTokens) expect(dump).not.toContain(token);
    const key = accessTokenKey(prefix, ctx.env.WECHAT_APPID!);
    const ttl = Number(await redisCommand(ctx.redis, 'PTTL', key));
    expect(ttl).toBeGreaterThan((7200 - 60) * 1000 - 10_000);
    expect(ttl).toBeLessThanOrEqual((7200 - 60) * 1000);
  });

  it('drops the token in Redis only while it is still the one that failed (the script, on real Redis)', async () => {
    const prefix = unique();
    const { env } = ctx;
    const redis = createRedisClient({ url: env.UPSTASH_REDIS_REST_URL!, token: env.UPSTASH_REDIS_REST_TOKEN!, keyPrefix: prefix, timeoutMs: 2000 });
    const cache = createRedisAccessTokenCache(redis, { keyPrefix: prefix, appId: env.WECHAT_APPID!, appSecret: env.WECHAT_SECRET! });
    const expiresAt = Date.now() + 60_000;
    await cache.set({ token: 'token-two', expiresAt }, 60_000);
    await cache.drop('token-one');
    await expect(cache.get()).resolves.toEqual({ token: 'token-two', expiresAt });
    await cache.drop('token-two');
    await expect(cache.get()).resolves.toBeNull();
  });
});
