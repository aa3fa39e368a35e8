import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REDACTED } from '../../lib/logger';
import { authorizerEvent, bodyOf, httpEvent, loginEvent, loginFrom } from '../support/events';
import { coldStart, useLocalStack, type Handler } from '../support/local';

/**
 * Every path through every function, with everything they print captured: the AppSecret, the
 * Upstash token, issued tokens, session_keys and full login codes must never appear. No
 * composition root lists a secret: the runtime registers every SecureString setting with the
 * logger (lib/secrets.ts, lib/runtime.ts), from SSM's answer or, locally, SECURE_STRINGS.
 */
describe('Secrets never reach a log line (integration)', () => {
  const secret = `wx-secret-${randomBytes(12).toString('hex')}`;
  const ctx = useLocalStack({ WECHAT_SECRET: secret, LOG_LEVEL: 'debug', WECHAT_TIMEOUT_MS: '500', WECHAT_DEADLINE_MS: '1000' });
  const lines: string[] = [];
  const tokens: string[] = [];
  const codes: string[] = [];

  beforeAll(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write);
  });
  afterAll(() => {
    vi.restoreAllMocks();
  });

  it('exercises the success and every error path', async () => {
    const env = ctx.env;
    const login = await coldStart('login', env);
    const run = async (code: string, event = loginEvent(code)) => {
      codes.push(code);
      const result = await login(event);
      if (result.statusCode === 200) tokens.push(bodyOf(result).token);
      return result;
    };

    // Success, replay (same client), a replay refused (another client), unionid.
    await run('alice.first-login');
    await run('alice.second-login', loginFrom('198.51.100.70', 'alice.second-login'));
    await run('alice.second-login', loginFrom('198.51.100.70', 'alice.second-login'));
    await run('alice.second-login', loginFrom('198.51.100.71', 'alice.second-login'));
    // A client-chosen code equal to another field's value (here its own IP) must not erase it.
    await login(loginFrom('198.51.100.73', '198.51.100.73'));
    await login(loginFrom('198.51.100.73', '198.51.100.73'));
    await run('alice.union-login');
    // Every WeChat answer of the error table, and the stub's faults.
    for (const code of ['errcode.40029', 'errcode.40163', 'errcode.40226', 'errcode.45011', 'errcode.-1', 'errcode.40013', 'errcode.40125', 'errcode.40164', 'http.502', 'html', 'empty', 'drop', 'delay.800.slow-user']) {
      await run(code);
    }
    // Bad input.
    await login(httpEvent({ body: '{"code": "has spaces and secrets"}' }));
    await login(httpEvent({ body: '{not json' }));
    // The session cannot be committed (the user row is undone).
    ctx.stack.gateway.failNext('/', 1, 'wxlogin:commit');
    await run('bruno.failed-save');
    // Redis refuses the claim.
    ctx.stack.gateway.failNext('/');
    await run('carla.redis-down');
    // The wrong AppSecret, DynamoDB unreachable, and the rate limit.
    const otherSecret = `other-${randomBytes(12).toString('hex')}`;
    expect((await (await coldStart('login', { ...env, WECHAT_SECRET: otherSecret }))(loginEvent('dora.wrong-secret'))).statusCode).toBe(502);
    expect((await (await coldStart('login', { ...env, WECHAT_SECRET: secret, DYNAMODB_ENDPOINT: 'http://127.0.0.1:9' }))(loginEvent('erik.no-dynamo'))).statusCode).toBe(503);
    const limited = await coldStart('login', { ...env, DYNAMODB_ENDPOINT: ctx.env.DYNAMODB_ENDPOINT!, LOGIN_RATE_LIMIT: '1' });
    // Three from one network with a limit of one: the second or, should a busy machine fail the
    // first, the third is over it.
    for (const code of ['finn.rate-1', 'finn.rate-2', 'finn.rate-3']) {
      codes.push(code);
      const r = await limited(loginFrom('198.51.100.77', code));
      if (r.statusCode === 200) tokens.push(bodyOf(r).token);
    }
    codes.push('dora.wrong-secret', 'erik.no-dynamo');

    // The authorizer, /user/me and logout with good, tampered and revoked tokens.
    const authorize = await coldStart('authorizer', env);
    const me = await coldStart('me', env);
    const logout = await coldStart('logout', env);
    const token = tokens[0]!;
    const allowed = await authorize(authorizerEvent(`Bearer ${token}`));
    expect(allowed.isAuthorized).toBe(true);
    const asUser = (route: string, body?: string) => httpEvent({ routeKey: route, body, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: allowed.context } } as any });
    expect((await me(asUser('GET /user/me'))).statusCode).toBe(200);
    expect((await authorize(authorizerEvent(`Bearer ${token.slice(0, -1)}x`))).isAuthorized).toBe(false);
    expect((await authorize(authorizerEvent(`Basic ${token}`))).isAuthorized).toBe(false);
    // A "token" equal to a field's value (the denial's reason) must not erase that field.
    expect((await authorize(authorizerEvent('Bearer malformed'))).isAuthorized).toBe(false);
    expect((await logout(asUser('POST /user/logout', '{"all":"nope"}'))).statusCode).toBe(400);
    expect((await logout(asUser('POST /user/logout'))).statusCode).toBe(204);
    expect((await authorize(authorizerEvent(`Bearer ${token}`))).isAuthorized).toBe(false);
    await ctx.stack.redis.stop();
    try {
      await expect(authorize(authorizerEvent(`Bearer ${tokens[1]}`))).rejects.toMatchObject({ name: 'AuthorizerUnavailableError' });
    } finally {
      await ctx.stack.redis.start();
    }
  }, 60_000);

  it('open data: decrypted, stale and undecryptable, with none of the data printed', async () => {
    const env = ctx.env;
    const login = await coldStart('login', env);
    const authorize = await coldStart('authorizer', env);
    const opendata = await coldStart('opendata', env);
    const signIn = async (code: string) => {
      codes.push(code);
      const token = bodyOf(await login(loginEvent(code))).token as string;
      tokens.push(token);
      return token;
    };
    const read = async (token: string, body: object) =>
      (
        await opendata(
          httpEvent({
            routeKey: 'POST /user/opendata',
            body: JSON.stringify(body),
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            requestContext: { ...httpEvent().requestContext, authorizer: { lambda: (await authorize(authorizerEvent(`Bearer ${token}`))).context } } as any,
          }),
        )
      ).statusCode;
    const marker = 918_273_645;
    const wxData = async () => (await (await fetch(`${env.WECHAT_API_BASE}/__stub/opendata`, { method: 'POST', body: JSON.stringify({ name: 'olga', data: { stepInfoList: [{ timestamp: 1, step: marker }] } }) })).json()) as { encryptedData: string; iv: string };
    const first = await signIn('olga.1');
    expect(await read(first, await wxData())).toBe(200);
    await signIn('olga.2');
    const stale = await wxData();
    expect(await read(first, stale)).toBe(401);
    expect(await read(first, { encryptedData: randomBytes(32).toString('base64'), iv: randomBytes(16).toString('base64') })).toBe(401);
    const output = lines.join('');
    expect(output).toContain('open data could not be decrypted: WeChat asked');
    expect(output).not.toContain(String(marker));
    expect(output).not.toContain((stale as { encryptedData: string }).encryptedData.slice(0, 24));
  });

  describe('Settings in a log line: every SecureString scrubbed, every String readable', () => {
    /** What each function reads from SSM in production, as the template names it, and how the operator stored it (docs/deploy.md). */
    const parameters = () => ctx.stack.parameters;
    const NAMES = ['WECHAT_APPID', 'WECHAT_SECRET', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'WECHAT_PUSH_TOKEN', 'WECHAT_PUSH_AES_KEY'] as const;
    type Name = (typeof NAMES)[number];
    const functions: { module: 'login' | 'wechat-events'; reads: Name[]; event: (requestId: string) => APIGatewayProxyEventV2 }[] = [
      {
        module: 'login',
        reads: ['WECHAT_APPID', 'WECHAT_SECRET', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'],
        event: (requestId) => httpEvent({ body: '{not json', requestContext: { ...httpEvent().requestContext, requestId } }),
      },
      {
        module: 'wechat-events',
        reads: ['WECHAT_APPID', 'WECHAT_PUSH_TOKEN', 'WECHAT_PUSH_AES_KEY', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'],
        event: (requestId) => httpEvent({ routeKey: 'GET /wechat/events', rawPath: '/wechat/events', body: undefined, requestContext: { ...httpEvent().requestContext, requestId, http: { ...httpEvent().requestContext.http, method: 'GET', path: '/wechat/events' } } }),
      },
    ];

    const ssm = () => ctx.stack.ssm;

    /** The environment as deployed: only the parameters' names for what the function reads from SSM. */
    function fromSsm(reads: Name[]): Record<string, string> {
      const env: Record<string, string> = { ...ctx.env, SSM_ENDPOINT: ssm().url };
      for (const name of NAMES) env[name] = '';
      for (const name of reads) env[`${name}_PARAMETER`] = parameters()[name]!.name;
      return env;
    }

    /** The lines one invocation printed, every one of which carries `value` as its request id. */
    async function linesOf(handler: Handler, event: APIGatewayProxyEventV2): Promise<string[]> {
      const from = lines.length;
      await handler(event);
      return lines.slice(from).filter((line) => line.startsWith('{"level"'));
    }

    it.each(functions.flatMap((f) => (['set directly', 'read from SSM'] as const).map((source) => [f.module, source, f] as const)))(
      '%s, its settings %s',
      async (_module, source, { module, reads, event }) => {
        // Prepare
        const env = source === 'read from SSM' ? fromSsm(reads) : { ...ctx.env, SSM_ENDPOINT: '' };
        const calls = ssm().stats.calls;
        const handler = await coldStart(module, env);
        for (const name of reads) {
          const value = ctx.env[name]!;
          // Act: an invocation whose every log line carries the setting's value.
          const printed = await linesOf(handler, event(value));
          // Assess
          expect(printed.length, name).toBeGreaterThan(0);
          for (const line of printed) {
            if (parameters()[name]!.type === 'SecureString') {
              expect(line, name).not.toContain(value);
              expect(JSON.parse(line).requestId, name).toBe(REDACTED);
            } else {
              expect(JSON.parse(line).requestId, name).toBe(value);
            }
          }
        }
        expect(ssm().stats.calls - calls).toBe(source === 'read from SSM' ? 1 : 0);
      },
    );
  });

  it('logged every path, at the expected levels', () => {
    const output = lines.join('');
    for (const message of [
      'login succeeded',
      'login replayed for a retried code',
      'login code replayed by another client: refused',
      'request rejected',
      'dependency failure',
      'WeChat rejected our credentials or server: configuration problem',
      'login rate limit reached',
      'authorization denied',
      'session store unavailable: not authorizing, API Gateway answers 500',
      'logged out',
    ]) {
      expect(output).toContain(message);
    }
    expect(tokens.length).toBeGreaterThanOrEqual(4);
    expect(ctx.stack.wechat.stats.sessionKeys.length).toBeGreaterThanOrEqual(4);
  });

  it('let no client-chosen value erase a field of a log line', () => {
    const replayed = lines.map((line) => JSON.parse(line)).find((entry) => entry.message === 'login replayed for a retried code' && entry.caller === '198.51.100.73');
    expect(replayed).toMatchObject({ caller: '198.51.100.73', userId: expect.any(String) });
    const denied = lines.map((line) => JSON.parse(line)).filter((entry) => entry.message === 'authorization denied');
    expect(denied.length).toBeGreaterThanOrEqual(3);
    for (const entry of denied) expect(entry.reason).toMatch(/^(missing|malformed|unknown)$/);
  });

  it('never printed the AppSecret, the Upstash token, a token, a session_key or a full login code', () => {
    const output = lines.join('');
    expect(output).not.toContain(secret);
    expect(output).not.toContain(ctx.env.UPSTASH_REDIS_REST_TOKEN!);
    expect(output).not.toContain(ctx.env.WECHAT_PUSH_TOKEN!);
    expect(output).not.toContain(ctx.env.WECHAT_PUSH_AES_KEY!);
    for (const token of tokens) expect(output).not.toContain(token);
    for (const key of ctx.stack.wechat.stats.sessionKeys) expect(output).not.toContain(key);
    for (const code of codes.filter((c) => c.length >= 8)) expect(output).not.toContain(code);
  });
});
