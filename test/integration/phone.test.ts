import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { coldStart, dumpRedis, useLocalStack, type Handler } from '../support/local';
import { capturedStdout } from '../support/log-capture';

/**
 * POST /user/phone, loaded as Lambda loads it, with the authorizer's context from a real
 * login, against dynalite, Redis behind the Upstash gateway and the WeChat stub (stable_token
 * and getuserphonenumber).
 */
describe('Function: phone (integration)', () => {
  const ctx = useLocalStack({ WECHAT_TIMEOUT_MS: '400', WECHAT_DEADLINE_MS: '900', LOG_LEVEL: 'info' });
  let login: Handler;
  let authorize: (event: unknown) => Promise<{ isAuthorized: boolean; context?: Record<string, string> }>;
  let phone: Handler;
  let me: Handler;
  const printed = capturedStdout();

  beforeAll(async () => {
    login = await coldStart('login', ctx.env);
    authorize = await coldStart('authorizer', ctx.env);
    me = await coldStart('me', ctx.env);
    phone = await coldStart('phone', ctx.env);
  });

  /** A signed-in user: what the authorizer hands the route. */
  async function user(name = `u${randomBytes(4).toString('hex')}`) {
    const { token } = bodyOf(await login(loginFrom('198.51.100.60', `${name}.1`)));
    const { context } = await authorize(authorizerEvent(`Bearer ${token}`));
    const as = (routeKey: string, body?: string) =>
      httpEvent({ routeKey, body, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never });
    return {
      name,
      userId: context!.userId!,
      openid: context!.openid!,
      bind: (code: string, fn: Handler = phone) => fn(as('POST /user/phone', JSON.stringify({ code }))),
      post: (body: string) => phone(as('POST /user/phone', body)),
      profile: async () => bodyOf(await me(as('GET /user/me'))),
    };
  }
  const digits = () => `138${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
  const claim = async (e164: string) => (await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.PHONES_TABLE, Key: { phone: { S: e164 } } }))).Item;

  it('binds a number, answers it, and /user/me shows it with its verification time', async () => {
    const alice = await user();
    const number = digits();
    const result = await alice.bind(`${number}.a`);
    expect(result.statusCode).toBe(200);
    expect(bodyOf(result)).toEqual({ countryCode: '86', purePhoneNumber: number, phoneNumber: number });
    expect((await alice.profile()).phone).toEqual({ countryCode: '86', purePhoneNumber: number, phoneNumber: number, verifiedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect((await claim(`+86${number}`))?.userId?.S).toBe(alice.userId);
  });

  it('keeps a number from abroad as WeChat gives it, and a countryCode sent as a number as a string', async () => {
    const bob = await user();
    expect(bodyOf(await bob.bind('1-4155550123.a'))).toEqual({ countryCode: '1', purePhoneNumber: '4155550123', phoneNumber: '+1 4155550123' });
    const carol = await user();
    const number = digits();
    expect(bodyOf(await carol.bind(`${number}.numcc`))).toEqual({ countryCode: '86', purePhoneNumber: number, phoneNumber: number });
  });

  it('replaces the user’s number and frees the old one', async () => {
    const dan = await user();
    const [first, second] = [digits(), digits()];
    await dan.bind(`${first}.a`);
    await dan.bind(`${second}.a`);
    expect((await dan.profile()).phone.purePhoneNumber).toBe(second);
    expect(await claim(`+86${first}`)).toBeUndefined();
  });

  it('answers a retried code without asking WeChat again, and refuses another user’s code', async () => {
    const eve = await user();
    const code = `${digits()}.retry`;
    const first = bodyOf(await eve.bind(code));
    const calls = ctx.stack.wechat.stats.phoneCalls;
    expect(bodyOf(await eve.bind(code))).toEqual(first);
    const mallory = await user();
    const stolen = await mallory.bind(code);
    expect(stolen.statusCode).toBe(400);
    expect(bodyOf(stolen).error.code).toBe('INVALID_PHONE_CODE');
    expect(ctx.stack.wechat.stats.phoneCalls).toBe(calls);
  });

  it('refuses a number bound to another user with 409 PHONE_IN_USE (no Retry-After) and changes nothing', async () => {
    const [fay, gus] = [await user(), await user()];
    const number = digits();
    await fay.bind(`${number}.fay`);
    const taken = await gus.bind(`${number}.gus`);
    expect(taken.statusCode).toBe(409);
    expect(bodyOf(taken).error.code).toBe('PHONE_IN_USE');
    expect(taken.headers).not.toHaveProperty('retry-after');
    expect((await gus.profile()).phone).toBeUndefined();
    expect((await fay.profile()).phone.purePhoneNumber).toBe(number);
  });

  it('with PHONE_CONFLICT=move, moves the number to its newest verified holder', async () => {
    const moving = await coldStart('phone', { ...ctx.env, PHONE_CONFLICT: 'move' });
    const [hal, ivy] = [await user(), await user()];
    const number = digits();
    await hal.bind(`${number}.hal`);
    expect((await ivy.bind(`${number}.ivy`, moving)).statusCode).toBe(200);
    expect((await ivy.profile()).phone.purePhoneNumber).toBe(number);
    expect((await hal.profile()).phone).toBeUndefined();
    expect((await claim(`+86${number}`))?.userId?.S).toBe(ivy.userId);
    expect(printed.join('')).toContain('phone number moved to its newest verified holder');
  });

  describe('errors', () => {
    it.each([
      ['errcode.40029', 400, 'INVALID_PHONE_CODE'],
      ['errcode.45011', 429, 'RATE_LIMITED'],
      ['errcode.48001', 502, 'WECHAT_ERROR'],
      ['errcode.40013', 502, 'WECHAT_ERROR'],
      ['errcode.-1', 503, 'WECHAT_UNAVAILABLE'],
      ['delay.2000.13800138000', 503, 'WECHAT_UNAVAILABLE'],
      ['not-a-stub-code', 400, 'INVALID_PHONE_CODE'],
    ])('%s answers %i %s and binds nothing', async (code, status, errorCode) => {
      const jay = await user();
      const result = await jay.bind(code);
      expect(result.statusCode).toBe(status);
      expect(bodyOf(result).error.code).toBe(errorCode);
      if (status === 429) expect(result.headers?.['retry-after']).toBe('60');
      if (status === 503) expect(Number(result.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await jay.profile()).phone).toBeUndefined();
    });

    it('logs 48001 at error level with what the operator must do, and counts it for the WECHAT_ERROR alarm', () => {
      const line = printed.map((l) => l.trim()).find((l) => l.includes('"errcode":48001'));
      expect(line).toContain('"level":"error"');
      const emf = printed.map((l) => JSON.parse(l)).filter((doc) => doc._aws && 'WechatErrors' in doc);
      expect(emf.length).toBeGreaterThanOrEqual(2); // 48001 and 40013
      expect(emf[0]._aws.CloudWatchMetrics).toContainEqual({ Namespace: 'WeChatLogin', Dimensions: [['Service']], Metrics: [{ Name: 'WechatErrors', Unit: 'Count' }] });
    });

    it.each([
      ['no body', ''],
      ['no code', '{}'],
      ['a number for a code', '{"code":42}'],
      ['an unknown key', '{"code":"13800138000.a","phone":"13800138000"}'],
      ['bad characters', '{"code":"a b"}'],
    ])('answers %s with 400 INVALID_REQUEST', async (_name, body) => {
      const kim = await user();
      const result = await kim.post(body);
      expect(result.statusCode).toBe(400);
      expect(bodyOf(result).error.code).toBe('INVALID_REQUEST');
    });

    it('names the unknown key', async () => {
      const kim = await user();
      expect(bodyOf(await kim.post('{"code":"x","phoneNumber":"1"}')).error.message).toContain('"phoneNumber"');
    });

    it('limits binding attempts per user (PHONE_BIND_LIMIT) with 429 and Retry-After', async () => {
      const limited = await coldStart('phone', { ...ctx.env, PHONE_BIND_LIMIT: '2' });
      const leo = await user();
      await leo.bind('not-a-code-1', limited);
      await leo.bind('not-a-code-1', limited); // the same code again: still one attempt
      await leo.bind('not-a-code-2', limited);
      const refused = await leo.bind(`${digits()}.a`, limited);
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers?.['retry-after'])).toBeGreaterThan(0);
    });
  });

  describe('the access token', () => {
    it('is fetched once per container, then served from memory; a new container takes it from Redis', async () => {
      const fresh = await coldStart('phone', ctx.env);
      const before = ctx.stack.wechat.stats.stableTokenCalls;
      for (let i = 0; i < 3; i++) await (await user()).bind(`${digits()}.a`, fresh);
      const afterFirstContainer = ctx.stack.wechat.stats.stableTokenCalls;
      expect(afterFirstContainer - before).toBeLessThanOrEqual(1);
      const another = await coldStart('phone', ctx.env);
      await (await user()).bind(`${digits()}.a`, another);
      expect(ctx.stack.wechat.stats.stableTokenCalls).toBe(afterFirstContainer);
    });

    it('is refreshed once when WeChat says it is no longer valid (rotate), and the binding succeeds', async () => {
      const mia = await user();
      const before = ctx.stack.wechat.stats.stableTokenCalls;
      const number = digits();
      const result = await mia.bind(`rotate.${number}.a`);
      expect(result.statusCode).toBe(200);
      expect(bodyOf(result).purePhoneNumber).toBe(number);
      expect(ctx.stack.wechat.stats.stableTokenCalls - before).toBe(1);
    });

    it('never sits in Redis as it is', async () => {
      const dump = await dumpRedis(ctx.redis);
      expect(dump).toContain('wechat:access-token');
      for (const token of ctx.stack.wechat.stats.accessTokens) expect(dump).not.toContain(token);
    });
  });

  it('never logs a full phone number, an access token or the AppSecret', () => {
    const output = printed.join('');
    expect(output).toContain('phone number bound');
    expect(output).toMatch(/138\*{4}\d{4}/);
    expect(output).not.toMatch(/138\d{8}/);
    for (const token of ctx.stack.wechat.stats.accessTokens) expect(output).not.toContain(token);
    expect(output).not.toContain(ctx.env.WECHAT_SECRET!);
  });
});
