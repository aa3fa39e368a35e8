import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_PATTERN } from '../../lib/crypto';
import { ULID_PATTERN } from '../../lib/ids';
import { stubOpenid, stubUnionid } from '../../local/wechat-stub';
import { bodyOf, httpEvent, loginEvent, loginFrom } from '../support/events';
import { coldStart, dumpRedis, useLocalStack, type Handler } from '../support/local';

/**
 * The login function, loaded as Lambda would load it, against the real local stack:
 * redis-server behind the Upstash gateway, dynalite, and the WeChat stub.
 */
describe('Function: login (integration)', () => {
  const ctx = useLocalStack({ WECHAT_TIMEOUT_MS: '1000', WECHAT_DEADLINE_MS: '2000' });
  let login: Handler;

  beforeAll(async () => {
    login = await coldStart('login', ctx.env);
  });

  const post = (code: unknown) => login(loginEvent(code));

  it('rehearses a login at initialisation over recorded answers: it completes, writes nothing, and sends nothing but the GET / that opens each connection', async () => {
    await (login as (e: unknown) => Promise<unknown>)({ warmPing: true }); // the loaded function's own initialisation, out of the way
    const printed: string[] = [];
    const write = process.stdout.write;
    const before = { wechat: ctx.stack.wechat.stats.calls, redis: ctx.stack.gateway.stats.requests, dump: await dumpRedis(ctx.redis) };
    const dynamoBefore = ctx.stack.dynamo.stats.requests;
    process.stdout.write = ((chunk: unknown) => (printed.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      // A new container, logging at debug: its initialisation is what a warm ping awaits.
      const fresh = (await coldStart('login', { ...ctx.env, LOG_LEVEL: 'debug' })) as (e: unknown) => Promise<unknown>;
      await expect(fresh({ warmPing: true })).resolves.toEqual({ warm: true });
    } finally {
      process.stdout.write = write;
    }
    expect(printed.join('')).not.toContain('priming failed');
    expect(printed.join('')).not.toContain('rehearsal');
    expect({ wechat: ctx.stack.wechat.stats.calls, redis: ctx.stack.gateway.stats.requests, dump: await dumpRedis(ctx.redis) }).toEqual(before);
    expect(ctx.stack.dynamo.stats.requests - dynamoBefore).toBe(1); // the GET / that opens its connection
    expect(await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: 'o-rehearsal' } } }))).not.toHaveProperty('Item');
  });

  it('answers 400 UNKNOWN_APP to a code said to be another mini-program’s, without a request to WeChat, DynamoDB or Redis, and logs in with its own appid', async () => {
    await (login as (e: unknown) => Promise<unknown>)({ warmPing: true });
    const before = { wechat: ctx.stack.wechat.stats.calls, dynamo: ctx.stack.dynamo.stats.requests, redis: ctx.stack.gateway.stats.requests };
    const other = await login(loginEvent('appoline.1', { body: JSON.stringify({ code: 'appoline.1', appid: 'wx00000000000other' }) }));
    expect(other.statusCode).toBe(400);
    expect(bodyOf(other).error.code).toBe('UNKNOWN_APP');
    expect({ wechat: ctx.stack.wechat.stats.calls, dynamo: ctx.stack.dynamo.stats.requests, redis: ctx.stack.gateway.stats.requests }).toEqual(before);
    // The same code, with this deployment's own AppID: WeChat was never asked, so it is still good.
    const own = await login(loginEvent('appoline.1', { body: JSON.stringify({ code: 'appoline.1', appid: ctx.env.WECHAT_APPID }) }));
    expect(own.statusCode).toBe(200);
  });

  it('answers the warm-keeper\'s ping (param keepWarm) to a warm container without a request to WeChat, DynamoDB or Redis, printing only its WarmPing metric', async () => {
    // The container's initialisation (its connections opened, a login rehearsed) is done once, by whichever invocation comes first.
    await (login as (e: unknown) => Promise<unknown>)({ warmPing: true });
    const printed: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: unknown) => (printed.push(String(chunk)), true)) as typeof process.stdout.write;
    const before = { wechat: ctx.stack.wechat.stats.calls, dynamo: ctx.stack.dynamo.stats.requests, redis: ctx.stack.gateway.stats.requests };
    try {
      // EventBridge's scheduled target input, as deploy/routes/login.yml's LoginKeepWarmRule sends it.
      await expect((login as (e: unknown) => Promise<unknown>)({ warmPing: true })).resolves.toEqual({ warm: true });
    } finally {
      process.stdout.write = write;
    }
    expect({ wechat: ctx.stack.wechat.stats.calls, dynamo: ctx.stack.dynamo.stats.requests, redis: ctx.stack.gateway.stats.requests }).toEqual(before);
    expect(printed.map((line) => JSON.parse(line))).toEqual([expect.objectContaining({ WarmPing: 1, _aws: expect.anything() })]);
    expect(printed.join('')).not.toContain('Requests');
  });
  const userRow = async (name: string) =>
    (
      await ctx.stack.dynamo.client.send(
        new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: stubOpenid(ctx.env.WECHAT_APPID!, name) } } }),
      )
    ).Item;
  /** Attributes the app itself keeps on a user row: a login must never touch them. */
  const ownData = (name: string) =>
    ctx.stack.dynamo.client.send(
      new UpdateItemCommand({
        TableName: ctx.env.USERS_TABLE,
        Key: { openid: { S: stubOpenid(ctx.env.WECHAT_APPID!, name) } },
        UpdateExpression: 'SET nickname = :n, points = :p',
        ExpressionAttributeValues: { ':n': { S: '丽塔' }, ':p': { N: '120' } },
      }),
    );
  /** Keys of a kind, with their values (dumpRedis lists name, value, name, value, …). */
  const entries = async (kind: 'session:' | 'code:') => {
    const lines = (await dumpRedis(ctx.redis)).split('\n');
    const out: [string, string][] = [];
    for (let i = 0; i < lines.length; i += 2) if (lines[i]!.startsWith(`wxlogin:${kind}`)) out.push([lines[i]!, lines[i + 1] ?? '']);
    return out;
  };
  const sessionCount = async () => (await entries('session:')).length;
  /** Code keys that hold something: a claim or a result. A released code keeps only its mark, `r|<loginId>`. */
  const heldCodes = async () => (await entries('code:')).filter(([, value]) => !value.startsWith('r|')).length;

  it('logs alice in twice as one user with two different tokens', async () => {
    const first = await post('alice.1');
    const second = await post('alice.2');

    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    const a = bodyOf(first);
    const b = bodyOf(second);
    expect(a).toEqual({ token: expect.stringMatching(TOKEN_PATTERN), expiresIn: 604800, userId: expect.stringMatching(ULID_PATTERN), isNewUser: true });
    expect(b).toMatchObject({ userId: a.userId, isNewUser: false });
    expect(b.token).not.toBe(a.token);
    expect(first.headers).toMatchObject({ 'content-type': 'application/json', 'cache-control': 'no-store' });

    const row = await userRow('alice');
    expect(row).toMatchObject({ userId: { S: a.userId }, loginCount: { N: '2' } });
    expect(row?.createdAt?.S! <= row?.lastLoginAt?.S!).toBe(true);
    expect(row).not.toHaveProperty('session_key');
    expect(row).not.toHaveProperty('sessionKey');
  });

  it('returns the same token to a retry of the same code from the same client without calling WeChat again', async () => {
    const before = ctx.stack.wechat.stats.calls;
    const first = bodyOf(await login(loginFrom('198.51.100.30', 'alice.3')));
    const retry = bodyOf(await login(loginFrom('198.51.100.30', 'alice.3')));
    expect(retry.token).toBe(first.token);
    expect(retry.userId).toBe(first.userId);
    expect(ctx.stack.wechat.stats.calls - before).toBe(1);
  });

  describe('a used code is a session only for the client that used it', () => {
    const proof = (seed: string) => seed.padEnd(43, '0');
    const withProof = (code: string, value: string | undefined, sourceIp: string) => {
      const event = loginFrom(sourceIp, code);
      if (value !== undefined) event.headers = { ...event.headers, 'x-login-proof': value };
      return event;
    };

    it('replays to the same X-Login-Proof from another network (Wi-Fi → 4G)', async () => {
      const first = bodyOf(await login(withProof('ada.1', proof('ada'), '198.51.100.40')));
      const moved = await login(withProof('ada.1', proof('ada'), '2001:db8:4g::1'));
      expect(moved.statusCode).toBe(200);
      expect(bodyOf(moved).token).toBe(first.token);
    });

    it.each([
      ['another proof', proof('mallory')],
      ['no proof', undefined],
    ])('answers 401 INVALID_CODE to a replay with %s, even from the same network, without calling WeChat', async (_name, other) => {
      const code = `ben.${Math.random().toString(36).slice(2)}`;
      expect((await login(withProof(code, proof('ben'), '198.51.100.41'))).statusCode).toBe(200);
      const before = ctx.stack.wechat.stats.calls;
      const replay = await login(withProof(code, other, '198.51.100.41'));
      expect(replay.statusCode).toBe(401);
      expect(bodyOf(replay).error.code).toBe('INVALID_CODE');
      expect(replay.body).not.toContain('token');
      expect(ctx.stack.wechat.stats.calls).toBe(before);
    });

    it('replays to a client that sent no proof only from its own network (IPv6: its /64)', async () => {
      const first = bodyOf(await login(withProof('cy.1', undefined, '2001:db8:aa:bb::1')));
      const sameNet = await login(withProof('cy.1', undefined, '2001:db8:aa:bb:ffff::2'));
      expect(bodyOf(sameNet).token).toBe(first.token);
      const otherNet = await login(withProof('cy.1', undefined, '2001:db8:aa:bc::1'));
      expect(otherNet.statusCode).toBe(401);
    });

    it('refuses a malformed X-Login-Proof as INVALID_REQUEST', async () => {
      const result = await login(withProof('dee.1', 'short', '198.51.100.42'));
      expect(result.statusCode).toBe(400);
      expect(bodyOf(result).error).toEqual({ code: 'INVALID_REQUEST', message: expect.stringContaining('X-Login-Proof') });
    });
  });

  it('logs in from an event without requestContext.http (a hand-written event), counted as an unknown caller', async () => {
    const event = loginEvent('alice.no-http');
    delete (event.requestContext as { http?: unknown }).http;
    expect((await login(event)).statusCode).toBe(200);
  });

  it('accepts a base64-encoded body', async () => {
    const body = Buffer.from(JSON.stringify({ code: 'alice.b64' })).toString('base64');
    const result = await login(httpEvent({ body, isBase64Encoded: true }));
    expect(result.statusCode).toBe(200);
  });

  it('fills in unionid when it first appears and keeps it when later answers omit it', async () => {
    await post('uma.1');
    expect((await userRow('uma'))?.unionid).toBeUndefined();
    await post('uma.union2');
    expect((await userRow('uma'))?.unionid).toEqual({ S: stubUnionid('uma') });
    await post('uma.3');
    expect((await userRow('uma'))?.unionid).toEqual({ S: stubUnionid('uma') });
  });

  it('never deletes or changes what the app keeps on a user row', async () => {
    await post('xena.1');
    await ownData('xena');
    await post('xena.2');
    await post('errcode.40029');
    expect(await userRow('xena')).toMatchObject({ nickname: { S: '丽塔' }, points: { N: '120' }, loginCount: { N: '2' } });
  });

  describe('error table, reached through the WeChat stub', () => {
    it.each([
      ['errcode.40029', 401, 'INVALID_CODE'],
      ['errcode.40163', 401, 'INVALID_CODE'],
      ['errcode.40226', 403, 'USER_BLOCKED'],
      ['errcode.45011', 429, 'RATE_LIMITED'],
      ['errcode.-1', 503, 'WECHAT_UNAVAILABLE'],
      ['delay.1500.slow', 503, 'WECHAT_UNAVAILABLE'],
      ['http.500', 503, 'WECHAT_UNAVAILABLE'],
      ['http.502', 503, 'WECHAT_UNAVAILABLE'],
      ['html', 503, 'WECHAT_UNAVAILABLE'],
      ['empty', 503, 'WECHAT_UNAVAILABLE'],
      ['drop', 503, 'WECHAT_UNAVAILABLE'],
      ['errcode.40013', 502, 'WECHAT_ERROR'],
      ['errcode.40125', 502, 'WECHAT_ERROR'],
      ['errcode.40164', 502, 'WECHAT_ERROR'],
      ['errcode.12345', 502, 'WECHAT_ERROR'],
    ])('%s answers %i %s and writes nothing', async (code, status, errorCode) => {
      const sessionsBefore = await sessionCount();
      const codesBefore = await heldCodes();
      const result = await post(code);
      expect(result.statusCode).toBe(status);
      expect(bodyOf(result)).toEqual({ error: { code: errorCode, message: expect.any(String) } });
      expect(result.headers?.['content-type']).toBe('application/json');
      expect(await sessionCount()).toBe(sessionsBefore);
      // The claim was released: nothing about this code but its released mark stays in Redis.
      expect(await heldCodes()).toBe(codesBefore);
      if (status === 503 || status === 409) expect(Number(result.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    });

    it('answers 45011 with Retry-After', async () => {
      expect((await post('errcode.45011')).headers?.['retry-after']).toBe('60');
    });

    it('retries WeChat busy twice before giving up', async () => {
      const before = ctx.stack.wechat.stats.calls;
      await post('errcode.-1');
      expect(ctx.stack.wechat.stats.calls - before).toBe(3);
    });

    it('answers INVALID_CODE for a code already exchanged elsewhere (40163)', async () => {
      const stolen = new URL('/sns/jscode2session', ctx.stack.wechat.url);
      stolen.search = new URLSearchParams({ appid: ctx.env.WECHAT_APPID!, secret: ctx.env.WECHAT_SECRET!, js_code: 'jay.1', grant_type: 'authorization_code' }).toString();
      expect(await (await fetch(stolen)).json()).toHaveProperty('openid');

      const result = await post('jay.1');
      expect(result.statusCode).toBe(401);
      expect(bodyOf(result).error.code).toBe('INVALID_CODE');
      // Nothing is counted for jay (WeChat refused before any user write).
      expect(await userRow('jay')).toBeUndefined();
    });

    it('answers WECHAT_ERROR when the AppSecret is wrong (the stub checks the pair like WeChat)', async () => {
      const misconfigured = await coldStart('login', { ...ctx.env, WECHAT_SECRET: 'not-the-right-secret' });
      const result = await misconfigured(loginEvent('kim.1'));
      expect(result.statusCode).toBe(502);
      expect(bodyOf(result).error.code).toBe('WECHAT_ERROR');
      expect(result.body).not.toContain('not-the-right-secret');
    });

    it('answers WECHAT_UNAVAILABLE when WeChat refuses the connection', async () => {
      const unreachable = await coldStart('login', { ...ctx.env, WECHAT_API_BASE: 'http://127.0.0.1:9' });
      const result = await unreachable(loginEvent('yuri.1'));
      expect(result.statusCode).toBe(503);
      expect(bodyOf(result).error.code).toBe('WECHAT_UNAVAILABLE');
    });

    it('answers INVALID_REQUEST for a bad body without calling WeChat', async () => {
      const before = ctx.stack.wechat.stats.calls;
      for (const body of ['{bad json', '[]', '{"code":42}', '{"code":"a&secret=x"}', '{"code":"abc","extra":1}', JSON.stringify({ code: 'x'.repeat(2000) })]) {
        const result = await login(httpEvent({ body }));
        expect(result.statusCode).toBe(400);
        expect(bodyOf(result).error.code).toBe('INVALID_REQUEST');
      }
      expect(ctx.stack.wechat.stats.calls).toBe(before);
    });
  });

  describe('store faults', () => {
    it('answers SERVICE_UNAVAILABLE without calling WeChat while Redis is down, and recovers without a restart', async () => {
      await ctx.stack.redis.stop();
      try {
        const before = ctx.stack.wechat.stats.calls;
        const result = await post('lena.1');
        expect(result.statusCode).toBe(503);
        expect(bodyOf(result)).toEqual({ error: { code: 'SERVICE_UNAVAILABLE', message: expect.any(String) } });
        expect(result.body).not.toMatch(/token/);
        expect(ctx.stack.wechat.stats.calls).toBe(before);
      } finally {
        await ctx.stack.redis.start();
      }
      const recovered = await post('lena.2');
      expect(recovered.statusCode).toBe(200);
    });

    it('answers SERVICE_UNAVAILABLE and stores no session while DynamoDB is unreachable', async () => {
      const noDynamo = await coldStart('login', { ...ctx.env, DYNAMODB_ENDPOINT: 'http://127.0.0.1:9', DYNAMODB_TIMEOUT_MS: '500' });
      const sessionsBefore = await sessionCount();
      const result = await noDynamo(loginEvent('mona.1'));
      expect(result.statusCode).toBe(503);
      expect(bodyOf(result).error.code).toBe('SERVICE_UNAVAILABLE');
      expect(await sessionCount()).toBe(sessionsBefore);
    });
  });

  describe('a session that cannot be committed after the user row was written', () => {
    it('counts nothing and issues no token; the user keeps its one identity and the retry is its first login', async () => {
      ctx.stack.gateway.failNext('/', 1, 'wxlogin:commit');
      const failed = await post('quinn.1');
      expect(failed.statusCode).toBe(503);
      expect(bodyOf(failed).error.code).toBe('SERVICE_UNAVAILABLE');
      const reserved = await userRow('quinn');
      expect(reserved).toMatchObject({ loginCount: { N: '0' } });

      const retry = await post('quinn.2');
      expect(retry.statusCode).toBe(200);
      expect(bodyOf(retry)).toMatchObject({ isNewUser: true, userId: reserved?.userId?.S });
      expect(await userRow('quinn')).toMatchObject({ loginCount: { N: '1' } });
    });

    it('puts a returning user’s row back exactly as it was, attributes it does not manage included', async () => {
      await post('rita.1');
      await ownData('rita');
      const before = await userRow('rita');
      expect(before).toMatchObject({ nickname: { S: '丽塔' }, points: { N: '120' } });
      ctx.stack.gateway.failNext('/', 1, 'wxlogin:commit');
      expect((await post('rita.2')).statusCode).toBe(503);
      // As it was, but for the login bookkeeping: the fence that keeps the failed login's
      // write from ever landing, and which logins wrote the row last.
      const bookkeeping = ['undoneLoginId', 'lastLoginId', 'previousLoginId'];
      const after = (await userRow('rita'))!;
      expect(after.undoneLoginId?.S).toMatch(/^[0-9A-Z]{26}$/);
      const visible = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).filter(([key]) => !bookkeeping.includes(key)));
      expect(visible(after)).toEqual(visible(before!));
    });
  });

  describe('rate limit per client IP', () => {
    it('answers RATE_LIMITED with Retry-After past the limit, without calling WeChat, and spares other IPs', async () => {
      const limited = await coldStart('login', { ...ctx.env, LOGIN_RATE_LIMIT: '3', LOGIN_RATE_WINDOW_SECONDS: '60' });
      for (let i = 0; i < 3; i++) expect((await limited(loginFrom('198.51.100.20', `vic.${i}`))).statusCode).toBe(200);

      const wechatBefore = ctx.stack.wechat.stats.calls;
      const refused = await limited(loginFrom('198.51.100.20', 'vic.3'));
      expect(refused.statusCode).toBe(429);
      expect(bodyOf(refused)).toEqual({ error: { code: 'RATE_LIMITED', message: expect.any(String) } });
      const retryAfter = Number(refused.headers?.['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(ctx.stack.wechat.stats.calls).toBe(wechatBefore);

      // Known to be limited: answered from the container's memory, no Redis request.
      const redisBefore = ctx.stack.gateway.stats.requests;
      expect((await limited(loginFrom('198.51.100.20', 'vic.4'))).statusCode).toBe(429);
      expect(ctx.stack.gateway.stats.requests).toBe(redisBefore);

      expect((await limited(loginFrom('198.51.100.21', 'vic.5'))).statusCode).toBe(200);
    });

    it('counts a login and its code claim in one Redis request', async () => {
      const before = ctx.stack.gateway.stats.requests;
      expect((await post('walt.1')).statusCode).toBe(200);
      // One request to claim (with the rate count), one script to commit.
      expect(ctx.stack.gateway.stats.requests - before).toBe(2);
    });
  });

  describe('races', () => {
    it('creates one user for 20 concurrent first logins with distinct codes', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => post(`nina.${i}`)));
      expect(results.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
      const bodies = results.map(bodyOf);
      expect(new Set(bodies.map((b) => b.userId)).size).toBe(1);
      expect(bodies.filter((b) => b.isNewUser)).toHaveLength(1);
      expect(new Set(bodies.map((b) => b.token)).size).toBe(20);
      expect((await userRow('nina'))?.loginCount).toEqual({ N: '20' });
    });

    it('calls WeChat once for concurrent duplicates of one code', async () => {
      const before = ctx.stack.wechat.stats.calls;
      const results = await Promise.all(Array.from({ length: 10 }, () => post('delay.200.omar.1')));
      expect(ctx.stack.wechat.stats.calls - before).toBe(1);
      const ok = results.filter((r) => r.statusCode === 200).map(bodyOf);
      const busy = results.filter((r) => r.statusCode === 409);
      expect(ok.length + busy.length).toBe(10);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      expect(new Set(ok.map((b) => b.token)).size).toBe(1);
      for (const r of busy) {
        expect(bodyOf(r).error.code).toBe('LOGIN_IN_PROGRESS');
        expect(r.headers?.['retry-after']).toBe('1');
      }
    });
  });

  it('keeps no raw token and no login code anywhere in Redis', async () => {
    const issued = [bodyOf(await post('pia.1')).token, bodyOf(await post('pia.2')).token];
    const dump = await dumpRedis(ctx.redis);
    expect(dump).toContain('session:');
    for (const token of issued) expect(dump).not.toContain(token);
    expect(dump).not.toContain('pia.1');
    expect(dump).not.toContain('alice.3');
  });
});
