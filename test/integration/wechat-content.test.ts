import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRedisClient } from '../../lib/adapters/redis';
import { AppError } from '../../lib/errors';
import { errorResponse } from '../../lib/http/respond';
import { createRedisAccessTokenCache, createWechatApi } from '../../lib/adapters/wechat-access-token';
import { USER_NOT_ACTIVE_RETRY_AFTER_SECONDS, createWechatContentCheck } from '../../lib/adapters/wechat-content';
import { stubOpenid } from '../../local/wechat-stub';
import { useLocalStack } from '../support/local';

/** The content check over the shared access token, against the local stack's WeChat stub. */
describe('WechatContentCheck through the stub (integration)', () => {
  const ctx = useLocalStack();

  /** A client with its own Redis key prefix, so each starts without a shared token. */
  function client(limits: { timeoutMs: number; deadlineMs: number } = { timeoutMs: 3000, deadlineMs: 5000 }) {
    const { env } = ctx;
    const keyPrefix = `test-${randomBytes(4).toString('hex')}:`;
    const redis = createRedisClient({ url: env.UPSTASH_REDIS_REST_URL!, token: env.UPSTASH_REDIS_REST_TOKEN!, keyPrefix, timeoutMs: 2000 });
    const fetches = { count: 0 };
    const api = createWechatApi({
      appId: env.WECHAT_APPID!,
      appSecret: env.WECHAT_SECRET!,
      apiBase: env.WECHAT_API_BASE!,
      ...limits,
      cache: createRedisAccessTokenCache(redis, { keyPrefix, appId: env.WECHAT_APPID!, appSecret: env.WECHAT_SECRET! }),
      onTokenFetch: () => fetches.count++,
    });
    return { check: createWechatContentCheck(api), fetches };
  }

  const openid = () => stubOpenid(ctx.env.WECHAT_APPID!, 'alice');

  async function failure(promise: Promise<unknown>): Promise<AppError> {
    const err = await promise.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }

  it.each([
    ['ordinary text', '小明', { suggest: 'pass', label: 100 }],
    ['text the stub reviews', 'please review me', { suggest: 'review', label: 20001 }],
    ['text the stub finds risky', 'a risky nickname', { suggest: 'risky', label: 20002 }],
  ])('answers the verdict on %s (the stub accepts the request body as WeChat documents it)', async (_name, content, expected) => {
    await expect(client().check.checkText(openid(), content)).resolves.toEqual(expected);
  });

  it('answers errcode.61010 with SERVICE_UNAVAILABLE, a Retry-After and the user’s side marked', async () => {
    const err = await failure(client().check.checkText(openid(), 'errcode.61010'));
    expect({ code: err.code, status: err.status, details: err.details }).toEqual({
      code: 'SERVICE_UNAVAILABLE',
      status: 503,
      details: { api: '/wxa/msg_sec_check', errcode: 61010, errmsg: expect.stringContaining('code is expired'), userSide: true },
    });
    expect(errorResponse(err).headers?.['retry-after']).toBe(String(USER_NOT_ACTIVE_RETRY_AFTER_SECONDS));
  });

  it.each([
    ['errcode.44991 (minute frequency)', 'RATE_LIMITED', 'errcode.44991', '60'],
    ['errcode.45009 (daily quota)', 'RATE_LIMITED', 'errcode.45009', '3600'],
    ['errcode.40003 (invalid openid)', 'WECHAT_ERROR', 'errcode.40003', undefined],
    ['errcode.-1 (busy after retries)', 'WECHAT_UNAVAILABLE', 'errcode.-1', '1'],
  ])('answers %s with %s', async (_name, code, content, retryAfter) => {
    const err = await failure(client().check.checkText(openid(), content));
    expect(err.code).toBe(code);
    expect(errorResponse(err).headers?.['retry-after']).toBe(retryAfter);
  });

  it('answers WECHAT_UNAVAILABLE when the check outlasts its timeout', async () => {
    const err = await failure(client({ timeoutMs: 300, deadlineMs: 1000 }).check.checkText(openid(), 'delay.1500.hello'));
    expect(err.code).toBe('WECHAT_UNAVAILABLE');
    expect(err.details).toMatchObject({ api: '/wxa/msg_sec_check', reason: 'timeout' });
  });

  it('refreshes the token once when WeChat replaced it between two checks, and the check still answers', async () => {
    const { check, fetches } = client();
    const stub = ctx.stack.wechat;
    const checks = stub.stats.contentChecks;
    const stableTokenCalls = stub.stats.stableTokenCalls;

    await expect(check.checkText(openid(), 'first')).resolves.toEqual({ suggest: 'pass', label: 100 });
    expect({ fetches: fetches.count, checks: stub.stats.contentChecks - checks }).toEqual({ fetches: 1, checks: 1 });

    stub.rotateToken();
    await expect(check.checkText(openid(), 'second risky')).resolves.toEqual({ suggest: 'risky', label: 20002 });
    // One refusal (40001) and one retry with the one fresh token.
    expect({ fetches: fetches.count, checks: stub.stats.contentChecks - checks }).toEqual({ fetches: 2, checks: 3 });
    expect(stub.stats.stableTokenCalls - stableTokenCalls).toBe(2);
  });
});
