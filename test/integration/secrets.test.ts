import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../lib/config';
import { withParameters } from '../../lib/secrets';
import { startSsmStub, type RunningSsmStub } from '../../local/ssm-stub';
import { bodyOf, httpEvent, loginEvent } from '../support/events';
import { coldStart, useLocalStack } from '../support/local';

/**
 * Production reads the AppSecret and the Upstash token from SSM Parameter Store at cold start
 * (only their parameter names are configured). Here the functions cold-start exactly that way,
 * against an SSM stand-in holding the local stack's secrets.
 */
describe('Secrets from SSM at cold start (integration)', () => {
  const ctx = useLocalStack();
  let ssm: RunningSsmStub;
  let stored: Record<string, string>;
  /** The parameters' names, as the template gives them to the functions (/wechat-login/dev/wechat-secret…). */
  const names = () => ({ WECHAT_SECRET: ctx.stack.parameters.WECHAT_SECRET!.name, UPSTASH_REDIS_REST_TOKEN: ctx.stack.parameters.UPSTASH_REDIS_REST_TOKEN!.name });

  /** The stack's environment as production would set it: parameter names, no secret values. */
  function productionEnv(overrides: Record<string, string> = {}): Record<string, string> {
    const { WECHAT_SECRET: _s, UPSTASH_REDIS_REST_TOKEN: _t, ...rest } = ctx.env;
    return {
      ...rest,
      WECHAT_SECRET: '',
      UPSTASH_REDIS_REST_TOKEN: '',
      WECHAT_SECRET_PARAMETER: names().WECHAT_SECRET,
      UPSTASH_REDIS_REST_TOKEN_PARAMETER: names().UPSTASH_REDIS_REST_TOKEN,
      SSM_ENDPOINT: ssm.url,
      ...overrides,
    };
  }

  beforeAll(async () => {
    ssm = await startSsmStub({
      region: ctx.env.AWS_REGION!,
      credentials: { accessKeyId: ctx.env.AWS_ACCESS_KEY_ID!, secretAccessKey: ctx.env.AWS_SECRET_ACCESS_KEY!, sessionToken: ctx.env.AWS_SESSION_TOKEN },
      parameters: (stored = { [names().WECHAT_SECRET]: ctx.env.WECHAT_SECRET!, [names().UPSTASH_REDIS_REST_TOKEN]: ctx.env.UPSTASH_REDIS_REST_TOKEN! }),
    });
  });
  afterAll(async () => {
    await ssm?.close();
  });

  it('logs in with both secrets read from SSM in one signed request per cold start', async () => {
    const before = ssm.stats.calls;
    const login = await coldStart('login', productionEnv());
    const result = await login(loginEvent('sam.1'));
    expect(result.statusCode).toBe(200);
    expect(ssm.stats.calls - before).toBe(1);
    await login(loginEvent('sam.2'));
    expect(ssm.stats.calls - before).toBe(1);
  });

  it('authorizes with the Upstash token read from SSM', async () => {
    const login = await coldStart('login', productionEnv());
    const { token } = bodyOf(await login(loginEvent('sue.1')));
    const before = ssm.stats.calls;
    const authorize = await coldStart('authorizer', productionEnv());
    const result = await authorize({ headers: { authorization: `Bearer ${token}` }, requestContext: { requestId: 'r' }, routeKey: 'GET /user/me' });
    expect(result.isAuthorized).toBe(true);
    expect(ssm.stats.calls - before).toBe(1);
  });

  /** Runs `fn` with stdout captured. */
  async function capture<T>(fn: () => Promise<T>): Promise<{ result: T; output: string }> {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write);
    try {
      return { result: await fn(), output: lines.join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it('is refused by the stand-in, as by SSM, when the request is signed with another secret key', async () => {
    const { awsJson } = await import('../../lib/adapters/aws-json');
    const ask = (secretAccessKey: string) =>
      awsJson(
        { Names: [names().WECHAT_SECRET], WithDecryption: true },
        {
          service: 'ssm',
          target: 'AmazonSSM.GetParameters',
          region: ctx.env.AWS_REGION!,
          endpoint: ssm.url,
          credentials: { accessKeyId: ctx.env.AWS_ACCESS_KEY_ID!, secretAccessKey },
          timeoutMs: 2000,
          idempotent: true,
        },
      );
    expect((await ask(ctx.env.AWS_SECRET_ACCESS_KEY!)).status).toBe(200);
    const refused = await ask(`${ctx.env.AWS_SECRET_ACCESS_KEY!}x`);
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('InvalidSignatureException');
  });

  it('answers 500 INTERNAL, naming the parameter in the log, when one does not exist', async () => {
    const login = await coldStart('login', productionEnv({ WECHAT_SECRET_PARAMETER: '/nope/wechat-secret' }));
    const { result, output } = await capture(() => login(loginEvent('sid.1')));
    expect(result.statusCode).toBe(500);
    expect(bodyOf(result).error.code).toBe('INTERNAL');
    expect(output).toContain('function initialisation failed');
    expect(output).toContain('no such SSM parameter: /nope/wechat-secret');
    expect(output).not.toContain(ctx.env.UPSTASH_REDIS_REST_TOKEN!);
  });

  it('answers 503 while SSM refuses, and initialises on a later invocation once it can', async () => {
    const env = productionEnv({ SSM_ENDPOINT: 'http://127.0.0.1:9' });
    const login = await coldStart('login', env);
    const { result } = await capture(() => login(loginEvent('sol.1')));
    expect(result.statusCode).toBe(503);
    expect(bodyOf(result).error.code).toBe('SERVICE_UNAVAILABLE');

    // The same container, SSM reachable again: the next invocation retries the initialisation.
    process.env.SSM_ENDPOINT = ssm.url;
    expect((await login(loginEvent('sol.2'))).statusCode).toBe(200);
  });

  it('throws in the authorizer when it cannot initialise (API Gateway answers 500, the client keeps its token)', async () => {
    const authorize = await coldStart('authorizer', productionEnv({ AWS_REGION: 'eu-west-1' }));
    const { result, output } = await capture(() =>
      authorize({ headers: { authorization: `Bearer ${'a'.repeat(43)}` }, requestContext: {} }).then(
        (answer: unknown) => ({ answer }),
        (err: Error) => ({ thrown: err.name }),
      ),
    );
    expect(result).toEqual({ thrown: 'AuthorizerUnavailableError' });
    expect(output).toContain('InvalidSignatureException');
  });

  describe('Rotated secrets, without a redeploy', () => {
    /** Resets the AppSecret in WeChat and, unless `inSsm` is false, puts the new one in SSM; undone after the test. */
    function rotateAppSecret(inSsm = true): string {
      const secret = `rotated-${Math.random().toString(36).slice(2)}`;
      ctx.stack.wechat.setAppSecret(secret);
      if (inSsm) stored[names().WECHAT_SECRET] = secret;
      return secret;
    }
    afterEach(() => {
      vi.useRealTimers();
      ctx.stack.wechat.setAppSecret(ctx.env.WECHAT_SECRET!);
      ctx.stack.gateway.setToken(ctx.env.UPSTASH_REDIS_REST_TOKEN!);
      stored[names().WECHAT_SECRET] = ctx.env.WECHAT_SECRET!;
      stored[names().UPSTASH_REDIS_REST_TOKEN] = ctx.env.UPSTASH_REDIS_REST_TOKEN!;
    });

    it('logs in after the AppSecret is reset in WeChat and put in SSM: one re-read, no WECHAT_ERROR, the old secret never again', async () => {
      const login = await coldStart('login', productionEnv({ LOG_LEVEL: 'info' }));
      expect((await login(loginEvent('rosa.1'))).statusCode).toBe(200);
      const secret = rotateAppSecret();
      const before = ssm.stats.calls;
      const { result, output } = await capture(() => login(loginEvent('rosa.2')));
      expect(result.statusCode).toBe(200);
      expect(ssm.stats.calls - before).toBe(1);
      expect(output).toContain('credentials refused, parameters re-read: changed, retrying with them');
      expect(output).not.toMatch(/"level":"error"/);
      expect(output).not.toContain('WechatErrors');
      expect(output).not.toContain(secret);
      // The container keeps the new secret: the next login asks neither SSM nor WeChat twice.
      const calls = ctx.stack.wechat.stats.calls;
      expect((await login(loginEvent('rosa.3'))).statusCode).toBe(200);
      expect(ssm.stats.calls - before).toBe(1);
      expect(ctx.stack.wechat.stats.calls - calls).toBe(1);
    });

    it('re-reads at most once a minute: before SSM has the new secret, refusals answer 502 WECHAT_ERROR and ask SSM once', async () => {
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
      const login = await coldStart('login', productionEnv({ LOG_LEVEL: 'info' }));
      expect((await login(loginEvent('rick.1'))).statusCode).toBe(200);
      const secret = rotateAppSecret(false);
      const before = ssm.stats.calls;
      const first = await capture(() => login(loginEvent('rick.2')));
      expect(first.result.statusCode).toBe(502);
      expect(first.output).toContain('credentials refused, parameters re-read: unchanged');
      expect((await capture(() => login(loginEvent('rick.3')))).result.statusCode).toBe(502);
      expect(ssm.stats.calls - before).toBe(1);
      // The operator puts the new secret in SSM; within the minute the container does not look yet.
      stored[names().WECHAT_SECRET] = secret;
      vi.advanceTimersByTime(30_000);
      expect((await capture(() => login(loginEvent('rick.4')))).result.statusCode).toBe(502);
      expect(ssm.stats.calls - before).toBe(1);
      vi.advanceTimersByTime(31_000);
      expect((await capture(() => login(loginEvent('rick.5')))).result.statusCode).toBe(200);
      expect(ssm.stats.calls - before).toBe(2);
    });

    it('authorizes after the Upstash token is reset and put in SSM (a 401 from Upstash is not a 500 for long)', async () => {
      const login = await coldStart('login', productionEnv({ LOG_LEVEL: 'info' }));
      const { token } = bodyOf(await login(loginEvent('ursula.1')));
      const authorize = await coldStart('authorizer', productionEnv({ LOG_LEVEL: 'info' }));
      const event = { headers: { authorization: `Bearer ${token}` }, requestContext: { requestId: 'r' }, routeKey: 'GET /user/me' };
      expect((await authorize(event)).isAuthorized).toBe(true);
      const rotated = `rotated-${Math.random().toString(36).slice(2)}`;
      ctx.stack.gateway.setToken(rotated);
      stored[names().UPSTASH_REDIS_REST_TOKEN] = rotated;
      const before = ssm.stats.calls;
      const { result, output } = await capture(() => authorize(event));
      expect(result).toMatchObject({ isAuthorized: true, context: { userId: expect.any(String) } });
      expect(ssm.stats.calls - before).toBe(1);
      expect(output).not.toContain(rotated);
    });

    it('answers a deletion met by a rotated Upstash token with 503, never reruns it (its code is spent), and deletes on the retry with a fresh code', async () => {
      const login = await coldStart('login', productionEnv({ LOG_LEVEL: 'info' }));
      const { token } = bodyOf(await login(loginEvent('delia.1')));
      const authorize = await coldStart('authorizer', productionEnv({ LOG_LEVEL: 'info' }));
      const { context } = await authorize({ headers: { authorization: `Bearer ${token}` }, requestContext: { requestId: 'r' }, routeKey: 'POST /user/delete' });
      const remove = (await coldStart('delete-account', productionEnv({ LOG_LEVEL: 'info' }))) as (e: unknown) => Promise<{ statusCode: number; body?: string; headers?: Record<string, string> }>;
      const deletion = (code: string) =>
        remove(httpEvent({ routeKey: 'POST /user/delete', body: JSON.stringify({ code }), requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never }));
      await remove({ warmPing: true }); // its initialisation, with the token of before
      const rotated = `rotated-${Math.random().toString(36).slice(2)}`;
      ctx.stack.gateway.setToken(rotated);
      stored[names().UPSTASH_REDIS_REST_TOKEN] = rotated;
      const exchanges = ctx.stack.wechat.stats.calls;
      const first = await capture(() => deletion('delia.2'));
      expect(first.result.statusCode).toBe(503);
      expect(bodyOf(first.result as never).error.code).toBe('SERVICE_UNAVAILABLE');
      expect(first.result.headers?.['retry-after']).toBeDefined();
      expect(ctx.stack.wechat.stats.calls - exchanges).toBe(1); // the code was presented once, never again
      // The client kit's retry, with a fresh code, finds the new token and finishes the deletion.
      const retry = await capture(() => deletion('delia.3'));
      expect(retry.result.statusCode).toBe(204);
      expect((await authorize({ headers: { authorization: `Bearer ${token}` }, requestContext: { requestId: 'r2' }, routeKey: 'GET /user/me' })).isAuthorized).toBe(false);
    });
  });

  describe('Function: withParameters', () => {
    it('keeps a value set in the environment and does not ask SSM', async () => {
      const before = ssm.stats.calls;
      const env = { WECHAT_SECRET: 'local', WECHAT_SECRET_PARAMETER: names().WECHAT_SECRET, SSM_ENDPOINT: ssm.url };
      await expect(withParameters(env)).resolves.toEqual({ env, secrets: ['local'] });
      expect(ssm.stats.calls).toBe(before);
    });

    it('needs a region and credentials to ask SSM', async () => {
      await expect(withParameters({ WECHAT_SECRET_PARAMETER: names().WECHAT_SECRET })).rejects.toBeInstanceOf(ConfigError);
    });

    it('resolves every NAME whose NAME_PARAMETER is set, in one request, and nothing else', async () => {
      const before = ssm.stats.calls;
      const env = {
        AWS_REGION: ctx.env.AWS_REGION,
        AWS_ACCESS_KEY_ID: ctx.env.AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: ctx.env.AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN: ctx.env.AWS_SESSION_TOKEN,
        SSM_ENDPOINT: ssm.url,
        WECHAT_SECRET_PARAMETER: names().WECHAT_SECRET,
        UPSTASH_REDIS_REST_TOKEN_PARAMETER: names().UPSTASH_REDIS_REST_TOKEN,
        WECHAT_APPID: 'wx-set-locally',
        WECHAT_APPID_PARAMETER: names().WECHAT_SECRET,
        EMPTY_PARAMETER: ' ',
      };
      const { env: resolved, secrets } = await withParameters(env);
      expect(ssm.stats.calls).toBe(before + 1);
      expect(secrets.sort()).toEqual([ctx.env.WECHAT_SECRET, ctx.env.UPSTASH_REDIS_REST_TOKEN].sort());
      expect(resolved).toMatchObject({ WECHAT_SECRET: ctx.env.WECHAT_SECRET, UPSTASH_REDIS_REST_TOKEN: ctx.env.UPSTASH_REDIS_REST_TOKEN, WECHAT_APPID: 'wx-set-locally' });
      expect(resolved).not.toHaveProperty('EMPTY');
    });

    it('asks in requests of ten names at most (SSM refuses more in one): a deployment of many apps', async () => {
      const before = ssm.stats.calls;
      const apps = Array.from({ length: 12 }, (_, i) => `wx${String(i).padStart(16, '0')}`);
      const env = {
        AWS_REGION: ctx.env.AWS_REGION,
        AWS_ACCESS_KEY_ID: ctx.env.AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: ctx.env.AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN: ctx.env.AWS_SESSION_TOKEN,
        SSM_ENDPOINT: ssm.url,
        WECHAT_SECRET_PARAMETER: names().WECHAT_SECRET,
        ...Object.fromEntries(apps.map((app) => [`WECHAT_SECRET_${app}_PARAMETER`, names().WECHAT_SECRET])),
      };
      const { env: resolved } = await withParameters(env);
      expect(ssm.stats.calls).toBe(before + 2);
      for (const app of apps) expect(resolved[`WECHAT_SECRET_${app}`]).toBe(ctx.env.WECHAT_SECRET);
    });
  });
});
