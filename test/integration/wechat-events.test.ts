import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { AccountEvents } from '../../lib/account/ports';
import { createRedisClient } from '../../lib/adapters/redis';
import { loadRedisConfig } from '../../lib/config';
import { RedisEventDedupe } from '../../lib/adapters/redis-push-dedupe';
import { eventIdOf } from '../../lib/push/service';
import { parsePushMessage } from '../../lib/push/wechat-message';
import { listen, readBody } from '../../local/http-util';
import { authorizationEvent, sendPush, signPush, urlCheck, type AuthorizationEvent, type SignedRequest } from '../../local/wechat-push';
import { httpEvent } from '../support/events';
import { coldStart, redisCommand, useLocalStack, type Handler } from '../support/local';
import { capturedStdout } from '../support/log-capture';

/**
 * What the account side was asked to do. The function's composition builds its AccountEvents
 * with lib/account/compose.ts; here that real one is wrapped to record each call and to fail
 * on demand. (What the events do to a user's data: test/integration/account.test.ts.)
 */
const account = vi.hoisted(() => ({ calls: [] as { method: string; openid: string; revoked?: unknown }[], failNext: 0 }));

vi.mock('../../lib/account/compose', async (importActual) => {
  const actual = await importActual<typeof import('../../lib/account/compose')>();
  return {
    createAccountEvents(env: Record<string, string | undefined>): AccountEvents {
      const real = actual.createAccountEvents(env);
      const recorded = async (call: { method: string; openid: string; revoked?: unknown }, run: () => Promise<void>) => {
        account.calls.push(call);
        if (account.failNext > 0) {
          account.failNext--;
          // The AppError class of the function's own module graph (coldStart loads it afresh).
          const { AppError } = await import('../../lib/errors');
          throw new AppError('SERVICE_UNAVAILABLE', 'account store request failed');
        }
        await run();
      };
      return {
        authorizationRevoked: (openid, revoked, log) => recorded({ method: 'authorizationRevoked', openid, revoked }, () => real.authorizationRevoked(openid, revoked, log)),
        accountCancelled: (openid, log) => recorded({ method: 'accountCancelled', openid }, () => real.accountCancelled(openid, log)),
        infoModified: (openid, log) => recorded({ method: 'infoModified', openid }, () => real.infoModified(openid, log)),
      };
    },
  };
});

/**
 * GET and POST /wechat/events, loaded as Lambda loads it, against Redis behind the Upstash
 * gateway, with pushes signed (and sealed) as WeChat sends them by local/wechat-push.ts.
 */
describe('Function: wechat-events (integration)', () => {
  const ctx = useLocalStack({ LOG_LEVEL: 'debug' });
  let handler: Handler;
  const printed = capturedStdout();
  const sealed: string[] = [];
  const openids: string[] = [];

  beforeAll(async () => {
    handler = await coldStart('wechat-events', ctx.env);
  });

  const settings = () => ({ token: ctx.env.WECHAT_PUSH_TOKEN!, encodingAesKey: ctx.env.WECHAT_PUSH_AES_KEY!, appId: ctx.env.WECHAT_APPID! });

  /** An API Gateway (HTTP API, payload 2.0) event for a request WeChat would send. */
  function apiEvent(signed: SignedRequest, options: { base64?: boolean } = {}): APIGatewayProxyEventV2 {
    const method = signed.body === undefined ? 'GET' : 'POST';
    const base = httpEvent();
    return {
      ...base,
      routeKey: `${method} /wechat/events`,
      rawPath: '/wechat/events',
      rawQueryString: new URLSearchParams(signed.query).toString(),
      queryStringParameters: signed.query,
      headers: { 'content-type': 'application/json' },
      body: signed.body === undefined ? undefined : options.base64 ? Buffer.from(signed.body).toString('base64') : signed.body,
      isBase64Encoded: Boolean(options.base64),
      requestContext: { ...base.requestContext, routeKey: `${method} /wechat/events`, http: { ...base.requestContext.http, method, path: '/wechat/events' } },
    };
  }

  const newOpenid = () => {
    const openid = `oTest${randomBytes(12).toString('base64url')}`;
    openids.push(openid);
    return openid;
  };

  /** A signed push of `event` for a fresh user (安全模式 unless `plaintext`), and the Redis key of its record. */
  function push(event: AuthorizationEvent, options: { plaintext?: boolean; revokeInfo?: string; timestamp?: number; openid?: string } = {}) {
    const openid = options.openid ?? newOpenid();
    const message = authorizationEvent(event, openid, ctx.env.WECHAT_APPID!, { revokeInfo: options.revokeInfo });
    const signed = signPush(settings(), message, { plaintext: options.plaintext, timestamp: options.timestamp });
    if (!options.plaintext) sealed.push(JSON.parse(signed.body!).Encrypt);
    return { openid, message, signed, key: `wxlogin:push:${eventIdOf(parsePushMessage(JSON.stringify(message)))}` };
  }

  const callsFor = (openid: string) => account.calls.filter((call) => call.openid === openid);

  describe('GET: the URL check', () => {
    it('echoes echostr as text/plain to a well-signed check', async () => {
      const result = await handler(apiEvent(urlCheck(settings(), { echostr: '4375120948345356249' })));
      expect(result).toMatchObject({ statusCode: 200, body: '4375120948345356249' });
      expect(result.headers).toMatchObject({ 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
    });

    it('answers 403, never the echostr, to a check signed with another Token', async () => {
      const result = await handler(apiEvent(urlCheck({ token: 'notTheConsoleToken' }, { echostr: 'echo-4375120948345356249' })));
      expect(result.statusCode).toBe(403);
      expect(result.body).not.toContain('echo-4375120948345356249');
      expect(JSON.parse(result.body!)).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
    });
  });

  describe('POST in 安全模式', () => {
    it.each([
      ['user_authorization_revoke', '8', { method: 'authorizationRevoked', revoked: { phone: true, profile: false } }],
      ['user_authorization_revoke', '20', { method: 'authorizationRevoked', revoked: { phone: false, profile: true } }],
      ['user_authorization_cancellation', undefined, { method: 'accountCancelled' }],
      ['user_info_modified', undefined, { method: 'infoModified' }],
    ] as const)('runs %s (RevokeInfo %s) once and answers success, remembering it for 10 minutes', async (event, revokeInfo, call) => {
      const { openid, signed, key } = push(event, { revokeInfo });
      const result = await handler(apiEvent(signed));
      expect(result).toMatchObject({ statusCode: 200, body: 'success', headers: { 'content-type': 'text/plain; charset=utf-8' } });
      expect(callsFor(openid)).toEqual([{ ...call, openid }]);
      expect(await redisCommand(ctx.redis, 'GET', key)).toBe('d');
      const ttl = Number(await redisCommand(ctx.redis, 'TTL', key));
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
    });

    it('runs a replayed push once: the same request again, and WeChat’s retry signed afresh', async () => {
      const { openid, message, signed } = push('user_authorization_cancellation');
      const first = await handler(apiEvent(signed));
      const replay = await handler(apiEvent(signed));
      // The same message, signed (and sealed) afresh: another nonce, another random prefix.
      const retried = await handler(apiEvent(signPush(settings(), message, { nonce: '77' })));
      expect([first, replay, retried].map((r) => [r.statusCode, r.body])).toEqual([
        [200, 'success'],
        [200, 'success'],
        [200, 'success'],
      ]);
      expect(callsFor(openid)).toHaveLength(1);
    });

    it('answers 403 to a tampered push and changes nothing', async () => {
      const { openid, signed, key } = push('user_authorization_cancellation');
      const victim = newOpenid();
      // Another user's cancellation sealed with the right key, under the original msg_signature.
      const other = signPush(settings(), authorizationEvent('user_authorization_cancellation', victim, ctx.env.WECHAT_APPID!));
      const tampered: SignedRequest = { query: signed.query, body: other.body };
      const result = await handler(apiEvent(tampered));
      expect(result.statusCode).toBe(403);
      expect(callsFor(openid)).toEqual([]);
      expect(callsFor(victim)).toEqual([]);
      expect(await redisCommand(ctx.redis, 'EXISTS', key)).toBe(0);
    });

    it('answers 403 to a push whose signed timestamp is more than 5 minutes old, and changes nothing', async () => {
      const { openid, signed, key } = push('user_info_modified', { timestamp: Math.floor(Date.now() / 1000) - 301 });
      expect((await handler(apiEvent(signed))).statusCode).toBe(403);
      expect(callsFor(openid)).toEqual([]);
      expect(await redisCommand(ctx.redis, 'EXISTS', key)).toBe(0);
    });

    it('answers 503 when the account side fails, releasing the event, so that WeChat’s retry runs it', async () => {
      const { openid, signed, key } = push('user_authorization_revoke', { revokeInfo: '6' });
      account.failNext = 1;
      const failed = await handler(apiEvent(signed));
      expect(failed.statusCode).toBe(503);
      expect(await redisCommand(ctx.redis, 'EXISTS', key)).toBe(0);
      const retried = await handler(apiEvent(signed));
      expect([retried.statusCode, retried.body]).toEqual([200, 'success']);
      expect(callsFor(openid).map((c) => c.method)).toEqual(['authorizationRevoked', 'authorizationRevoked']);
      expect(await redisCommand(ctx.redis, 'GET', key)).toBe('d');
    });

    it('takes a body API Gateway passed base64-encoded', async () => {
      const { openid, signed } = push('user_info_modified');
      expect((await handler(apiEvent(signed, { base64: true }))).body).toBe('success');
      expect(callsFor(openid)).toHaveLength(1);
    });
  });

  describe('POST in 明文模式: refused', () => {
    const refusal = { error: { code: 'INVALID_SIGNATURE', message: expect.stringContaining('安全模式') } };
    const refusedLines = () => printed.join('').split('\n').filter((line) => line.includes('"refused":"plaintext"'));

    it.each([
      ['user_authorization_cancellation', 'no encrypt_type', undefined],
      ['user_authorization_cancellation', 'encrypt_type=raw', 'raw'],
      ['user_authorization_revoke', 'no encrypt_type', undefined],
      ['user_info_modified', 'encrypt_type=raw', 'raw'],
    ] as const)('answers 403 to a correctly signed %s (%s), running nothing and keeping no record', async (event, _how, encryptType) => {
      const { openid, signed, key } = push(event, { plaintext: true, revokeInfo: '8' });
      if (encryptType) signed.query.encrypt_type = encryptType;
      const before = refusedLines().length;
      const result = await handler(apiEvent(signed));
      expect(result.statusCode).toBe(403);
      expect(JSON.parse(result.body!)).toMatchObject(refusal);
      expect(callsFor(openid)).toEqual([]);
      expect(await redisCommand(ctx.redis, 'EXISTS', key)).toBe(0);
      // Why, in the log: the request was not 安全模式.
      expect(refusedLines().length).toBe(before + 1);
    });

    it('runs it when the operator set WECHAT_PUSH_PLAINTEXT=accept, once', async () => {
      const lenient = await coldStart('wechat-events', { ...ctx.env, WECHAT_PUSH_PLAINTEXT: 'accept' });
      const { openid, signed, key } = push('user_info_modified', { plaintext: true });
      for (let n = 0; n < 2; n++) expect(await lenient(apiEvent(signed))).toMatchObject({ statusCode: 200, body: 'success' });
      expect(callsFor(openid)).toEqual([{ method: 'infoModified', openid }]);
      expect(await redisCommand(ctx.redis, 'EXISTS', key)).toBe(1);
    });

    it('answers 403 to a 安全模式 URL’s signature reused with a forged body, whichever mode it claims', async () => {
      // A real push, seen on the way: its URL's signature, timestamp and nonce.
      const seen = push('user_info_modified');
      const { signature, timestamp, nonce } = seen.signed.query;
      const victim = newOpenid();
      const forged = authorizationEvent('user_authorization_cancellation', victim, ctx.env.WECHAT_APPID!);
      const key = `wxlogin:push:${eventIdOf(parsePushMessage(JSON.stringify(forged)))}`;
      for (const query of [
        { signature: signature!, timestamp: timestamp!, nonce: nonce! },
        { signature: signature!, timestamp: timestamp!, nonce: nonce!, encrypt_type: 'raw' },
        { ...seen.signed.query, msg_signature: signature! },
        seen.signed.query,
      ]) {
        const result = await handler(apiEvent({ query, body: JSON.stringify(forged) }));
        expect(result.statusCode).toBe(403);
      }
      expect(callsFor(victim)).toEqual([]);
      expect(callsFor(seen.openid)).toEqual([]);
      expect(await redisCommand(ctx.redis, 'EXISTS', key)).toBe(0);
    });

    it('runs 兼容模式 (encrypt_type=aes, clear fields beside Encrypt) on the decrypted message only', async () => {
      const { openid, signed } = push('user_info_modified');
      const victim = newOpenid();
      const clear = authorizationEvent('user_authorization_cancellation', victim, ctx.env.WECHAT_APPID!);
      const result = await handler(apiEvent({ query: signed.query, body: JSON.stringify({ ...clear, ...JSON.parse(signed.body!) }) }));
      expect([result.statusCode, result.body]).toEqual([200, 'success']);
      expect(callsFor(openid)).toEqual([{ method: 'infoModified', openid }]);
      expect(callsFor(victim)).toEqual([]);
    });
  });

  it('answers success to an event about another mini-program and to events it does not handle, running nothing', async () => {
    const openid = newOpenid();
    const foreign = signPush(settings(), authorizationEvent('user_authorization_cancellation', openid, 'wx0000000000other'));
    const demo = signPush(settings(), { ToUserName: 'gh_97417a04a28d', FromUserName: openid, CreateTime: Math.floor(Date.now() / 1000), MsgType: 'event', Event: 'debug_demo', debug_str: 'hello world' });
    for (const request of [foreign, demo]) expect((await handler(apiEvent(request))).body).toBe('success');
    expect(callsFor(openid)).toEqual([]);
  });

  it('sends a push over HTTP with local/wechat-push.ts, as WeChat would, through the function', async () => {
    // A minimal stand-in for API Gateway: the request's query and body, as an HTTP API event.
    const server = await listen(
      http.createServer(async (req, res) => {
        const url = new URL(req.url ?? '/', 'http://gateway');
        const body = req.method === 'POST' ? (await readBody(req, 1 << 20)).toString('utf8') : undefined;
        const result = await handler(apiEvent({ query: Object.fromEntries(url.searchParams), body }));
        res.writeHead(result.statusCode ?? 500, result.headers as http.OutgoingHttpHeaders).end(result.body);
      }),
    );
    try {
      const { openid, signed } = push('user_authorization_revoke', { revokeInfo: '8' });
      expect(await sendPush(`${server.url}/wechat/events`, signed)).toEqual({ status: 200, contentType: 'text/plain; charset=utf-8', body: 'success' });
      expect(callsFor(openid)).toEqual([{ method: 'authorizationRevoked', openid, revoked: { phone: true, profile: false } }]);
      const check = await sendPush(`${server.url}/wechat/events`, urlCheck(settings(), { echostr: '123' }));
      expect([check.status, check.body]).toEqual([200, '123']);
    } finally {
      await server.close();
    }
  });

  it('keeps its record in Redis with plain SET NX EX, GET and DEL (claim, done, release)', async () => {
    const dedupe = new RedisEventDedupe(createRedisClient(loadRedisConfig(ctx.env)), `wxlogin:test-${randomBytes(4).toString('hex')}:`);
    const id = randomBytes(8).toString('hex');
    expect(await dedupe.claim(id)).toBe('claimed');
    expect(await dedupe.claim(id)).toBe('running');
    await dedupe.release(id);
    expect(await dedupe.claim(id)).toBe('claimed');
    await dedupe.complete(id);
    expect(await dedupe.claim(id)).toBe('done');
  });

  it('lets a claim whose owner died lapse within the function’s 5 s', async () => {
    const prefix = `wxlogin:test-${randomBytes(4).toString('hex')}:`;
    const dedupe = new RedisEventDedupe(createRedisClient(loadRedisConfig(ctx.env)), prefix);
    await dedupe.claim('dead-owner');
    const ttl = Number(await redisCommand(ctx.redis, 'TTL', `${prefix}push:dead-owner`));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5);
  });

  it('never prints the Token, the EncodingAESKey, the Upstash token, a ciphertext or an openid', () => {
    const output = printed.join('');
    expect(output.length).toBeGreaterThan(1000);
    expect(sealed.length).toBeGreaterThan(3);
    for (const secret of [ctx.env.WECHAT_PUSH_TOKEN!, ctx.env.WECHAT_PUSH_AES_KEY!, ctx.env.UPSTASH_REDIS_REST_TOKEN!, ...sealed, ...openids]) {
      expect(output).not.toContain(secret);
    }
  });
});
