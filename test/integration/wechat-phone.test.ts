import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRedisClient } from '../../lib/adapters/redis';
import { AppError } from '../../lib/errors';
import { createRedisAccessTokenCache, createWechatApi } from '../../lib/adapters/wechat-access-token';
import { createWechatPhone } from '../../lib/adapters/wechat-phone';
import { useLocalStack } from '../support/local';

/** The phone-number client over the shared access token, against the local stack's WeChat stub. */
describe('WechatPhone through the stub (integration)', () => {
  const ctx = useLocalStack();

  function client() {
    const { env } = ctx;
    const keyPrefix = `test-${randomBytes(4).toString('hex')}:`;
    const redis = createRedisClient({ url: env.UPSTASH_REDIS_REST_URL!, token: env.UPSTASH_REDIS_REST_TOKEN!, keyPrefix, timeoutMs: 2000 });
    const api = createWechatApi({
      appId: env.WECHAT_APPID!,
      appSecret: env.WECHAT_SECRET!,
      apiBase: env.WECHAT_API_BASE!,
      timeoutMs: 3000,
      deadlineMs: 5000,
      cache: createRedisAccessTokenCache(redis, { keyPrefix, appId: env.WECHAT_APPID!, appSecret: env.WECHAT_SECRET! }),
    });
    return createWechatPhone(api, { appId: env.WECHAT_APPID! });
  }

  const tag = () => randomBytes(4).toString('hex');

  it.each([
    ['a Chinese number', '13800138000', { countryCode: '86', purePhoneNumber: '13800138000', phoneNumber: '13800138000' }],
    ['countryCode sent as a number (numcc)', '13800138000.numcc', { countryCode: '86', purePhoneNumber: '13800138000', phoneNumber: '13800138000' }],
    ['a +1 number', '1-4155550123', { countryCode: '1', purePhoneNumber: '4155550123', phoneNumber: '+1 4155550123' }],
    ['a +44 number sent with a numeric countryCode', '44-7700900123.numcc', { countryCode: '44', purePhoneNumber: '7700900123', phoneNumber: '+44 7700900123' }],
  ])('reads %s', async (_name, code, expected) => {
    await expect(client().getPhoneNumber(`${code}.${tag()}`, 'o-user')).resolves.toEqual(expected);
  });

  it('gets the number after WeChat replaced the token mid-call (rotate.), using the code once', async () => {
    const code = `rotate.13800138000.${tag()}`;
    await expect(client().getPhoneNumber(code, 'o-user')).resolves.toMatchObject({ purePhoneNumber: '13800138000' });
    expect(ctx.stack.wechat.phoneCodeConsumed(code)).toBe(true);
  });

  it.each([
    ['a used code', 'used', 'INVALID_PHONE_CODE'],
    ['errcode.40029', 'errcode.40029', 'INVALID_PHONE_CODE'],
    ['errcode.45011', 'errcode.45011', 'RATE_LIMITED'],
    ['errcode.48001', 'errcode.48001', 'WECHAT_ERROR'],
    ['errcode.-1 (busy after retries)', 'errcode.-1', 'WECHAT_UNAVAILABLE'],
  ])('answers %s with %s', async (_name, code, expected) => {
    const phone = client();
    let presented = code;
    if (code === 'used') {
      presented = `13800138000.${tag()}`;
      await phone.getPhoneNumber(presented, 'o-user');
    }
    const err = await phone.getPhoneNumber(presented, 'o-user').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe(expected);
  });
});
