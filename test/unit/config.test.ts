import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadPushConfig } from '../../lib/config';

const BASE = {
  WECHAT_APPID: 'wx1',
  WECHAT_SECRET: 's',
  USERS_TABLE: 'users',
  UPSTASH_REDIS_REST_URL: 'https://eu1-x.upstash.io',
  UPSTASH_REDIS_REST_TOKEN: 't',
};

describe('Function: loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(BASE);
    expect(config.wechat).toMatchObject({ apiBase: 'https://api.weixin.qq.com', timeoutMs: 3000, deadlineMs: 5000 });
    expect(config.session).toEqual({ ttlSeconds: 604_800, maxAgeSeconds: 2_592_000 });
    expect(config.dynamodb.endpoint).toBeUndefined();
    expect(config.redis.keyPrefix).toBe('wxlogin:');
    expect(config.logLevel).toBe('info');
  });

  it.each(Object.keys(BASE))('fails at cold start when %s is missing', (name) => {
    expect(() => loadConfig({ ...BASE, [name]: '' })).toThrow(new ConfigError(`${name} is required`));
  });

  it.each([
    ['SESSION_TTL_SECONDS', 'abc'],
    ['SESSION_TTL_SECONDS', '0'],
    ['WECHAT_TIMEOUT_MS', '-5'],
    ['WECHAT_API_BASE', 'ftp://x'],
    ['UPSTASH_REDIS_REST_URL', 'not a url'],
    ['LOG_LEVEL', 'loud'],
  ])('rejects %s=%s', (name, value) => {
    expect(() => loadConfig({ ...BASE, [name]: value })).toThrow(ConfigError);
  });

  it('refuses a max age shorter than the idle TTL', () => {
    expect(() => loadConfig({ ...BASE, SESSION_TTL_SECONDS: '100', SESSION_MAX_AGE_SECONDS: '50' })).toThrow(/SESSION_MAX_AGE_SECONDS/);
  });

  it('never echoes a secret in its errors', () => {
    expect(() => loadConfig({ ...BASE, UPSTASH_REDIS_REST_URL: 'bad-url-with-token-abc123' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('abc123') }),
    );
  });
});

describe('Function: loadPushConfig', () => {
  const PUSH = { WECHAT_PUSH_TOKEN: 'pushToken0123456789', WECHAT_PUSH_AES_KEY: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR', WECHAT_APPID: 'wx1' };

  it('reads the Token, the EncodingAESKey and the AppID, and refuses 明文模式 unless told to accept it', () => {
    expect(loadPushConfig(PUSH)).toEqual({ token: PUSH.WECHAT_PUSH_TOKEN, encodingAesKey: PUSH.WECHAT_PUSH_AES_KEY, appId: 'wx1', acceptPlaintext: false });
    expect(loadPushConfig({ ...PUSH, WECHAT_PUSH_PLAINTEXT: 'accept' }).acceptPlaintext).toBe(true);
    expect(loadPushConfig({ ...PUSH, WECHAT_PUSH_PLAINTEXT: 'refuse' }).acceptPlaintext).toBe(false);
    expect(() => loadPushConfig({ ...PUSH, WECHAT_PUSH_PLAINTEXT: 'yes' })).toThrow(new ConfigError('WECHAT_PUSH_PLAINTEXT must be refuse or accept'));
  });

  it.each(Object.keys(PUSH))('fails at cold start when %s is missing', (name) => {
    expect(() => loadPushConfig({ ...PUSH, [name]: '' })).toThrow(new ConfigError(`${name} is required`));
  });

  it.each([
    ['WECHAT_PUSH_TOKEN', 'ab'],
    ['WECHAT_PUSH_TOKEN', 'x'.repeat(33)],
    ['WECHAT_PUSH_TOKEN', 'has-a-dash-secret'],
    ['WECHAT_PUSH_AES_KEY', 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a'],
    ['WECHAT_PUSH_AES_KEY', 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aRZ'],
    ['WECHAT_PUSH_AES_KEY', 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a='],
    ['WECHAT_PUSH_AES_KEY', 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1a-'],
  ])('rejects %s=%s without echoing it', (name, value) => {
    expect(() => loadPushConfig({ ...PUSH, [name]: value })).toThrow(ConfigError);
    expect(() => loadPushConfig({ ...PUSH, [name]: value })).toThrow(expect.objectContaining({ message: expect.not.stringContaining(value) }));
  });
});
