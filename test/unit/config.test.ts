import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadDynamoConfig, loadUsersTable, settings } from '../../lib/config';
import { loadUserEventsConfig } from '../../lib/account/events';
import { loadPhoneConfig } from '../../lib/phone/config';
import { loadPushConfig } from '../../lib/push/config';

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
    expect(config.session).toEqual({ ttlSeconds: 604_800, maxAgeSeconds: 2_592_000, maxPerUser: 20, loginLogDays: 90 });
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

describe('Function: settings', () => {
  const env = { TABLE: ' orders ', BLANK: '  ', COUNT: '42', BAD_COUNT: '4x', BIG: '101', URL: 'https://example.com/api//', FTP: 'ftp://example.com', MODE: 'Move' };

  describe('Method: required', () => {
    it('returns the trimmed value', () => {
      expect(settings(env).required('TABLE')).toBe('orders');
    });

    it.each(['MISSING', 'BLANK'])('throws "%s is required" when unset or blank', (name) => {
      expect(() => settings(env).required(name)).toThrow(new ConfigError(`${name} is required`));
    });
  });

  describe('Method: optional', () => {
    it('returns the value, or the fallback when unset or blank', () => {
      expect(settings(env).optional('TABLE', 'x')).toBe('orders');
      expect(settings(env).optional('BLANK', 'x')).toBe('x');
      expect(settings(env).optional('MISSING', 'x')).toBe('x');
    });
  });

  describe('Method: integer', () => {
    it('returns the number, or the fallback when unset', () => {
      expect(settings(env).integer('COUNT', 1, 0, 100)).toBe(42);
      expect(settings(env).integer('MISSING', 7, 0, 100)).toBe(7);
    });

    it('throws on a value that is not a whole number, or out of range', () => {
      expect(() => settings(env).integer('BAD_COUNT', 1, 0, 100)).toThrow(new ConfigError('BAD_COUNT must be a whole number, got "4x"'));
      expect(() => settings(env).integer('BIG', 1, 0, 100)).toThrow(new ConfigError('BIG must be between 0 and 100, got 101'));
    });
  });

  describe('Method: url', () => {
    it('returns the URL without trailing slashes, or the fallback when given and unset', () => {
      expect(settings(env).url('URL')).toBe('https://example.com/api');
      expect(settings(env).url('MISSING', 'http://localhost:1/')).toBe('http://localhost:1');
    });

    it('throws when required and unset, or not http(s)', () => {
      expect(() => settings(env).url('MISSING')).toThrow(new ConfigError('MISSING is required'));
      expect(() => settings(env).url('FTP')).toThrow(new ConfigError('FTP must be an http(s) URL'));
    });
  });

  describe('Method: optionalUrl', () => {
    it('returns undefined when unset, and checks the URL when set', () => {
      expect(settings(env).optionalUrl('MISSING')).toBeUndefined();
      expect(settings(env).optionalUrl('URL')).toBe('https://example.com/api');
      expect(() => settings(env).optionalUrl('FTP')).toThrow(new ConfigError('FTP must be an http(s) URL'));
    });
  });

  describe('Method: oneOf', () => {
    it('returns the choice in lower case, or the fallback when unset', () => {
      expect(settings(env).oneOf('MODE', ['reject', 'move'], 'reject')).toBe('move');
      expect(settings(env).oneOf('MISSING', ['reject', 'move'], 'reject')).toBe('reject');
    });

    it('names the choices when the value is none of them', () => {
      expect(() => settings(env).oneOf('TABLE', ['a', 'b'], 'a')).toThrow(new ConfigError('TABLE must be a or b'));
      expect(() => settings(env).oneOf('TABLE', ['a', 'b', 'c'], 'a')).toThrow(new ConfigError('TABLE must be one of a, b, c'));
    });
  });
});

describe('Function: loadDynamoConfig', () => {
  it('reads the connection only: a function that reads no users needs no USERS_TABLE', () => {
    expect(loadDynamoConfig({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000/', AWS_REGION: 'ap-east-1' })).toEqual({ endpoint: 'http://127.0.0.1:8000', region: 'ap-east-1', timeoutMs: 2000 });
    expect(loadDynamoConfig({})).toEqual({ endpoint: undefined, timeoutMs: 2000 });
  });

  it('rejects a malformed endpoint or timeout', () => {
    expect(() => loadDynamoConfig({ DYNAMODB_ENDPOINT: 'localhost:8000' })).toThrow(new ConfigError('DYNAMODB_ENDPOINT must be an http(s) URL'));
    expect(() => loadDynamoConfig({ DYNAMODB_TIMEOUT_MS: '50' })).toThrow(new ConfigError('DYNAMODB_TIMEOUT_MS must be between 100 and 20000, got 50'));
  });
});

describe('Function: loadUsersTable', () => {
  it('fails at cold start when USERS_TABLE is missing', () => {
    expect(loadUsersTable({ USERS_TABLE: 'users' })).toBe('users');
    expect(() => loadUsersTable({})).toThrow(new ConfigError('USERS_TABLE is required'));
  });
});

describe('Function: loadPhoneConfig', () => {
  it('reads the claims table, the conflict rule and the limit, with their defaults', () => {
    expect(loadPhoneConfig({ PHONES_TABLE: 'phones' })).toEqual({ phonesTable: 'phones', conflict: 'reject', limit: { limit: 10, windowSeconds: 3600 } });
    expect(() => loadPhoneConfig({ PHONES_TABLE: 'phones', PHONE_CONFLICT: 'steal' })).toThrow(new ConfigError('PHONE_CONFLICT must be reject or move'));
    expect(() => loadPhoneConfig({})).toThrow(new ConfigError('PHONES_TABLE is required'));
  });
});

describe('Function: loadUserEventsConfig', () => {
  it('only logs by default, and refuses anything but eventbridge or log', () => {
    expect(loadUserEventsConfig({})).toMatchObject({ publish: false, source: 'wechat-login' });
    expect(loadUserEventsConfig({ USER_EVENTS: 'EventBridge', SERVICE_NAME: 'svc' })).toMatchObject({ publish: true, source: 'svc' });
    expect(() => loadUserEventsConfig({ USER_EVENTS: 'sns' })).toThrow(new ConfigError('USER_EVENTS must be eventbridge or log'));
  });
});

describe('Function: loadPushConfig', () => {
  const PUSH = { WECHAT_PUSH_TOKEN: 'pushToken0123456789', WECHAT_PUSH_AES_KEY: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR', WECHAT_APPID: 'wx1' };

  it('reads the Token, the EncodingAESKey and the AppID, and refuses 明文模式 unless told to accept it', () => {
    expect(loadPushConfig(PUSH)).toEqual({ token: PUSH.WECHAT_PUSH_TOKEN, encodingAesKey: PUSH.WECHAT_PUSH_AES_KEY, appId: 'wx1', kind: 'miniprogram', acceptPlaintext: false });
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
