import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, type Env } from '../../lib/config';
import { createLogger, REDACTED } from '../../lib/logger';
import { lambdaFunction } from '../../lib/runtime';
import { getParameters, type SsmParameter } from '../../lib/adapters/ssm';
import { SECURE_STRINGS, withParameters } from '../../lib/secrets';

vi.mock('../../lib/adapters/ssm', () => ({ getParameters: vi.fn() }));

/**
 * Which settings are secrets: a setting is one when its parameter is a SecureString. SSM says
 * so for what it returns; SECURE_STRINGS says so for a value set directly (locally).
 */
const AWS = { AWS_REGION: 'ap-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-access-key' };

/** SSM's answer: each parameter with its value and type. */
function ssmAnswers(parameters: Record<string, SsmParameter>) {
  vi.mocked(getParameters).mockImplementation(async (names) => Object.fromEntries(names.map((name) => [name, parameters[name]!])));
}

describe('Function: withParameters', () => {
  beforeEach(() => {
    vi.mocked(getParameters).mockReset();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  describe('a value read from SSM', () => {
    it('is a secret when its parameter is a SecureString, and not when it is a String', async () => {
      // Prepare
      ssmAnswers({
        '/p/appid': { value: 'wx0123456789abcdef', type: 'String' },
        '/p/secret': { value: 'app-secret-value', type: 'SecureString' },
        '/p/url': { value: 'https://eu1-x.upstash.io', type: 'String' },
        '/p/token': { value: 'upstash-token-value', type: 'SecureString' },
      });
      // Act
      const { env, secrets } = await withParameters({
        ...AWS,
        WECHAT_APPID_PARAMETER: '/p/appid',
        WECHAT_SECRET_PARAMETER: '/p/secret',
        UPSTASH_REDIS_REST_URL_PARAMETER: '/p/url',
        UPSTASH_REDIS_REST_TOKEN_PARAMETER: '/p/token',
      });
      // Assess
      expect(env).toMatchObject({ WECHAT_APPID: 'wx0123456789abcdef', WECHAT_SECRET: 'app-secret-value', UPSTASH_REDIS_REST_URL: 'https://eu1-x.upstash.io', UPSTASH_REDIS_REST_TOKEN: 'upstash-token-value' });
      expect(secrets.sort()).toEqual(['app-secret-value', 'upstash-token-value']);
      expect(getParameters).toHaveBeenCalledTimes(1);
    });

    it('fetches each extra app’s AppSecret with the rest, in the one request, and refuses one stored as a String', async () => {
      ssmAnswers({
        '/p/secret': { value: 'app-secret-value', type: 'SecureString' },
        '/p/apps/wxB/wechat-secret': { value: 'second-app-secret', type: 'SecureString' },
      });
      const { env, secrets } = await withParameters({ ...AWS, WECHAT_SECRET_PARAMETER: '/p/secret', WECHAT_APPS: 'wxB', WECHAT_APP_PARAMETERS: '/p/apps' });
      expect(env).toMatchObject({ WECHAT_SECRET: 'app-secret-value', WECHAT_SECRET_wxB: 'second-app-secret' });
      expect(secrets.sort()).toEqual(['app-secret-value', 'second-app-secret']);
      expect(getParameters).toHaveBeenCalledTimes(1);

      ssmAnswers({ '/p/apps/wxB/wechat-secret': { value: 'in-clear', type: 'String' } });
      await expect(withParameters({ ...AWS, WECHAT_APPS: 'wxB', WECHAT_APP_PARAMETERS: '/p/apps' })).rejects.toThrow('/p/apps/wxB/wechat-secret (WECHAT_SECRET_wxB) must be a SecureString parameter');
    });

    it('is a secret when its parameter is a SecureString, though no list names it (a module’s own)', async () => {
      ssmAnswers({ '/p/orders-api-key': { value: 'orders-api-key-value', type: 'SecureString' } });
      const { secrets } = await withParameters({ ...AWS, ORDERS_API_KEY_PARAMETER: '/p/orders-api-key' });
      expect(secrets).toEqual(['orders-api-key-value']);
    });

    it.each(SECURE_STRINGS)('throws when %s’s parameter is a String: a secret stored in clear fails the cold start', async (name) => {
      ssmAnswers({ '/p/x': { value: 'stored-in-clear', type: 'String' } });
      const attempt = withParameters({ ...AWS, [`${name}_PARAMETER`]: '/p/x' });
      await expect(attempt).rejects.toThrow(new ConfigError(`/p/x (${name}) must be a SecureString parameter, not a String`));
    });
  });

  describe('a value set directly (locally: SSM is never asked)', () => {
    it('is a secret when SECURE_STRINGS names it, and not otherwise', async () => {
      const env = {
        WECHAT_APPID: 'wx0000000000local',
        WECHAT_SECRET: 'local-app-secret',
        UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
        UPSTASH_REDIS_REST_TOKEN: 'local-upstash-token',
        WECHAT_PUSH_TOKEN: 'localPushToken',
        WECHAT_PUSH_AES_KEY: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR',
        WECHAT_SECRET_PARAMETER: '/p/secret',
      };
      const { env: resolved, secrets } = await withParameters(env);
      expect(resolved).toBe(env);
      expect(secrets.sort()).toEqual(['kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR', 'local-app-secret', 'local-upstash-token', 'localPushToken']);
      expect(getParameters).not.toHaveBeenCalled();
    });
  });
});

describe('Constant: SECURE_STRINGS', () => {
  it('names exactly the settings docs/deploy.md stores as SecureString parameters (not the AppID, not the Upstash URL)', () => {
    const doc = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
    const declared = [...doc.matchAll(/^\| `(\w+)` \|.*\*SSM\* `[^`]+` \((String|SecureString)\) \|$/gm)].map(([, name, type]) => ({ name, type }));
    expect(declared.filter((d) => d.type === 'String').map((d) => d.name).sort()).toEqual(['UPSTASH_REDIS_REST_URL', 'WECHAT_APPID']);
    expect(declared.filter((d) => d.type === 'SecureString').map((d) => d.name).sort()).toEqual([...SECURE_STRINGS].sort());
  });
});

describe('Function: lambdaFunction (lib/runtime.ts)', () => {
  it('registers the SecureString settings with the logger before composing: the composition root lists none, String settings stay readable', async () => {
    // Prepare: the plain variables, as locally; a composition root whose logger knows no secret.
    const env = {
      WECHAT_APPID: 'wx0000000000local',
      WECHAT_SECRET: `app-secret-${Math.random().toString(36).slice(2)}`,
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
      UPSTASH_REDIS_REST_TOKEN: `upstash-token-${Math.random().toString(36).slice(2)}`,
      WECHAT_PUSH_TOKEN: `pushToken${Math.random().toString(36).slice(2)}`,
      WECHAT_PUSH_AES_KEY: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR',
    };
    const lines: string[] = [];
    const compose = (resolved: Env) => {
      const logger = createLogger({ level: 'debug', service: 'test', sink: (line) => lines.push(line) });
      logger.info('composed', { ...resolved });
      return { logger };
    };
    const handler = lambdaFunction(compose, {
      scope: () => ({ fields: {} }),
      run: async (_event, { log }) => log.info('ran', { ...env }),
      initFailed: () => undefined,
      failed: () => undefined,
    }, env);
    // Act
    await handler({});
    // Assess
    expect(lines).toHaveLength(2);
    const output = lines.join('\n');
    for (const name of SECURE_STRINGS) expect(output).not.toContain(env[name as keyof typeof env]);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ WECHAT_APPID: env.WECHAT_APPID, UPSTASH_REDIS_REST_URL: env.UPSTASH_REDIS_REST_URL, WECHAT_SECRET: REDACTED });
  });
});
