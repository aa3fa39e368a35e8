import { randomBytes } from 'node:crypto';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveId, hashToken } from '../../lib/crypto';
import { ORPHAN_AGE_MS } from '../../lib/profile/avatar';
import { authorizationEvent, signPush } from '../../local/wechat-push';
import { stubOpenid, stubUnionid } from '../../local/wechat-stub';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { dynamoOp, startFaultProxy, upstashCommand, wechatPath, type FaultKind, type FaultProxy, type ProxiedRequest } from '../support/fault-proxy';
import { coldStartAccountFunctions, randomPhone, userWithData, type AccountFunctions, type UserWithData } from '../support/account-world';
import { coldStart, redisCommand, useLocalStack, type Handler } from '../support/local';
import { publicSessionId } from '../../lib/sessions/public-id';
import { IMAGES, uploadEvent } from '../support/multipart';

/**
 * The fault-injection suite: the real login function, loaded as Lambda loads it, against
 * dynalite, redis-server behind the Upstash gateway and the WeChat stub, with a proxy we
 * control in front of each. Every step of a login meets every kind of fault, once or on
 * every attempt; the client then behaves as the kit does (the same code again, or one fresh
 * wx.login after INVALID_CODE). We do not judge a scenario by what each request answered but
 * by what the stores hold afterwards (one identity, no session without its user, isNewUser
 * given once, loginCount = logins that succeeded) and by the retry succeeding quickly.
 */

/** Our timeout for each upstream request in this suite. */
const TIMEOUT_MS = 200;
/** How late a delayed request or answer is: well past our timeout. */
const LATE_MS = 450;
const KINDS: FaultKind[] = ['delay-request', 'late-answer', 'drop-answer', 'reset-after', 'refuse'];
/** 'once': the step's first request; 'every': every attempt at it (retries and re-sends too). */
const MODES = { once: 1, every: 4 } as const;

type Upstream = 'dynamo' | 'upstash' | 'wechat' | 's3';
interface Step {
  name: string;
  upstream: Upstream;
  match: (req: ProxiedRequest) => boolean;
}

const LOGIN_STEPS: Step[] = [
  { name: 'claim', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:claim') },
  { name: 'jscode2session', upstream: 'wechat', match: wechatPath('/sns/jscode2session') },
  // The login's own write, not the undo's (which are UpdateItems too).
  { name: 'user write', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('if_not_exists(userId') },
  // Every write to the users table at once, as when DynamoDB itself is slow: the login's write
  // and its undo (so a failed login may stay counted on the row).
  { name: 'user write and its undo', upstream: 'dynamo', match: dynamoOp('UpdateItem') },
  { name: 'commit', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:commit') },
];

interface Outcome {
  scenario: string;
  answers: string[];
  extraWxLogins: number;
  retryMs: number;
}

describe('Fault injection: every step of a login, an authorization, a logout, a phone binding, a profile change and an account deletion × every fault (integration)', () => {
  const ctx = useLocalStack();
  const proxies = {} as Record<Upstream, FaultProxy>;
  let fns: AccountFunctions;
  let login: Handler;
  let authorize: AccountFunctions['authorize'];
  let logout: Handler;
  let phone: Handler;
  let avatar: Handler;
  let profile: Handler;
  let deleteAccount: Handler;
  let wechatEvents: Handler;
  const outcomes: Outcome[] = [];
  /** The functions' environment, through the proxies: what the operator's merge runs with too. */
  let proxiedEnv: Record<string, string>;

  beforeAll(async () => {
    proxies.dynamo = await startFaultProxy({ target: ctx.env.DYNAMODB_ENDPOINT! });
    proxies.upstash = await startFaultProxy({ target: ctx.env.UPSTASH_REDIS_REST_URL! });
    proxies.wechat = await startFaultProxy({ target: ctx.env.WECHAT_API_BASE! });
    proxies.s3 = await startFaultProxy({ target: ctx.env.S3_ENDPOINT! });
    const env = {
      ...ctx.env,
      DYNAMODB_ENDPOINT: proxies.dynamo.url,
      UPSTASH_REDIS_REST_URL: proxies.upstash.url,
      WECHAT_API_BASE: proxies.wechat.url,
      S3_ENDPOINT: proxies.s3.url,
      S3_TIMEOUT_MS: String(TIMEOUT_MS),
      DYNAMODB_TIMEOUT_MS: String(TIMEOUT_MS),
      REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
      WECHAT_TIMEOUT_MS: String(TIMEOUT_MS),
      WECHAT_DEADLINE_MS: String(TIMEOUT_MS * 3),
      LOGIN_RATE_LIMIT: '0',
    };
    proxiedEnv = env;
    fns = await coldStartAccountFunctions(env);
    ({ login, authorize, logout, phone, avatar, profile, deleteAccount, wechatEvents } = fns);
  });

  afterAll(async () => {
    for (const proxy of Object.values(proxies)) await proxy?.close();
    // One line per scenario: what the client saw, and what the retry cost.
    if (outcomes.length > 0) {
      const width = Math.max(...outcomes.map((o) => o.scenario.length));
      const table = outcomes.map((o) => `  ${o.scenario.padEnd(width)}  ${o.answers.join(' → ').padEnd(34)} extra codes ${o.extraWxLogins}, retry done in ${o.retryMs} ms`);
      process.stdout.write(`\nfault suite: ${outcomes.length} scenarios, invariants held in each\n${table.join('\n')}\n`);
    }
  });

  /** Waits until every request any proxy let through has been answered upstream (late writes landed). */
  const settled = () => Promise.all(Object.values(proxies).map((proxy) => proxy.settled()));

  const newProof = () => randomBytes(32).toString('base64url');
  const answerOf = (result: { statusCode?: number; body?: string }) =>
    result.statusCode! < 300 ? String(result.statusCode) : `${result.statusCode} ${bodyOf(result).error?.code ?? ''}`.trim();

  /** A login as the client kit sends it: the code, its attempt's proof, from one phone. */
  const post = (code: string, proof: string, ip: string) => {
    const event = loginFrom(ip, code);
    event.headers = { ...event.headers, 'x-login-proof': proof };
    return login(event);
  };

  /** The fault's end: every request let through has been answered upstream, and no fault is left armed. */
  const faultOver = async () => {
    await settled();
    for (const proxy of Object.values(proxies)) proxy.clear();
  };

  /**
   * One client's logins as the kit sends them: each with a code (`codeOf(n)`: the n-th wx.login's)
   * and that code's proof; every answer recorded, every success kept. `retry` is the kit's after
   * a fault: the same code and proof, or one fresh wx.login (asked for, or after INVALID_CODE),
   * at most three times; it answers the last result and how long the retry took.
   */
  function loginClient(codeOf: (n: number) => string, send: (code: string, proof: string) => ReturnType<Handler>) {
    const codes = [codeOf(1)];
    let proof = newProof();
    const answers: string[] = [];
    const successes: { token: string; userId: string; isNewUser: boolean }[] = [];
    const record = (result: Awaited<ReturnType<Handler>>) => {
      answers.push(answerOf(result));
      if (result.statusCode === 200) successes.push(bodyOf(result));
      return result;
    };
    return {
      codes,
      answers,
      successes,
      record,
      /** The proof of the latest code. */
      proof: () => proof,
      first: async () => record(await send(codes[0]!, proof)),
      async retry(result: Awaited<ReturnType<Handler>>, how: 'same code' | 'fresh code') {
        const faultGone = Date.now();
        for (let attempt = 0; result.statusCode !== 200 && attempt < 3; attempt++) {
          if (how === 'fresh code' || (result.statusCode === 401 && bodyOf(result).error.code === 'INVALID_CODE')) {
            codes.push(codeOf(codes.length + 1));
            proof = newProof();
          }
          result = record(await send(codes.at(-1)!, proof));
        }
        return { result, retryMs: Date.now() - faultGone };
      },
    };
  }

  /** Sessions in Redis for an openid, as [userId, ...]. */
  async function sessionsOf(openid: string): Promise<string[]> {
    const keys = (await redisCommand(ctx.redis, 'KEYS', 'wxlogin:session:*')) as string[];
    const owners: string[] = [];
    for (const key of keys) {
      const [uid, oid] = (await redisCommand(ctx.redis, 'HMGET', key, 'uid', 'oid')) as string[];
      if (oid === openid) owners.push(uid!);
    }
    return owners;
  }

  async function userRow(openid: string) {
    const { Item } = await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: openid } }, ConsistentRead: true }));
    return Item;
  }

  /**
   * The invariants, read from the stores: one identity for the openid, every session of it
   * pointing at that identity, isNewUser in exactly one login, loginCount = logins that
   * succeeded (distinct tokens), and no code left claimed.
   */
  async function checkInvariants(name: string, successes: { token: string; userId: string; isNewUser: boolean }[], codes: string[], uncountable = 0) {
    const openid = stubOpenid(ctx.env.WECHAT_APPID!, name);
    const row = await userRow(openid);
    const userId = row?.userId?.S;
    expect(userId, 'the user row has its identity').toMatch(/^[0-9A-Z]{26}$/);
    const tokens = new Map(successes.map((s) => [s.token, s]));
    for (const s of tokens.values()) expect(s.userId, 'every login answered the one identity').toBe(userId);
    const owners = await sessionsOf(openid);
    expect(owners.every((owner) => owner === userId), 'every session points at the user row').toBe(true);
    expect(owners.length, 'one session per successful login').toBe(tokens.size);
    // A failed login whose undo could not reach DynamoDB either stays counted (the row cannot be
    // told): at most one per such failure. Nothing else may move the count.
    expect(Number(row?.loginCount?.N), 'loginCount counts successful logins once').toBeGreaterThanOrEqual(tokens.size);
    expect(Number(row?.loginCount?.N), 'loginCount counts successful logins once').toBeLessThanOrEqual(tokens.size + uncountable);
    expect([...tokens.values()].filter((s) => s.isNewUser).length, 'isNewUser in exactly one login').toBe(1);
    for (const code of codes) {
      const held = (await redisCommand(ctx.redis, 'GET', `wxlogin:code:${deriveId('login-code', code)}`)) as string | null;
      expect(held?.startsWith('p|') ?? false, `code ${code} is not left claimed`).toBe(false);
    }
  }

  // The client retries as the kit does (the same code and proof), or as a user who reopens the
  // mini-program does (a fresh wx.login code for every attempt after the fault).
  const RETRIES = ['same code', 'fresh code'] as const;
  const scenarios = LOGIN_STEPS.flatMap((step) =>
    KINDS.flatMap((kind) =>
      (Object.keys(MODES) as (keyof typeof MODES)[]).flatMap((mode) => RETRIES.map((retry) => ({ step, kind, mode, retry, label: `${step.name} × ${kind} × ${mode}, retried with the ${retry}` }))),
    ),
  );
  let serial = 0;

  it.each(scenarios)('login: $label', async ({ step, kind, mode, retry, label }) => {
    const name = `f${++serial}x${randomBytes(3).toString('hex')}`;
    const ip = `198.51.100.${serial % 250}`;
    const client = loginClient((n) => `${name}.${n}`, (code, proof) => post(code, proof, ip));
    const { codes, answers, successes, record } = client;

    // Act: the first attempt meets the fault.
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const first = await client.first();
    await faultOver();

    // The fault is gone. The client retries as the kit does: the same code and proof, or,
    // after INVALID_CODE, one fresh wx.login.
    const consumedBeforeRetry = ctx.stack.wechat.consumed(codes[0]!);
    const { result, retryMs } = await client.retry(first, retry);

    // Assess
    expect(result.statusCode, `${label}: ${answers.join(' → ')}`).toBe(200);
    expect(retryMs, 'the retry succeeds within 2 s of the fault going away').toBeLessThan(2000);
    const extraWxLogins = codes.length - 1;
    expect(extraWxLogins, 'at most one extra wx.login').toBeLessThanOrEqual(1);
    if (!consumedBeforeRetry && retry === 'same code') expect(extraWxLogins, 'the same code works while WeChat has not consumed it').toBe(0);

    // A replay of the winning code is the same login, and a later login is a returning one.
    const replay = record(await post(codes.at(-1)!, client.proof(), '203.0.113.250'));
    expect(bodyOf(replay).token).toBe(bodyOf(result).token);
    const later = record(await post(`${name}.later`, newProof(), ip));
    expect(bodyOf(later)).toMatchObject({ isNewUser: false });
    const failedWithTheirUndo = step.name === 'user write and its undo' ? answers.filter((a) => a !== '200').length : 0;
    await checkInvariants(name, successes, [...codes, `${name}.later`], failedWithTheirUndo);
    outcomes.push({ scenario: `login: ${label}`, answers: answers.slice(0, answers.length - 2), extraWxLogins, retryMs });
  });

  // Identities (docs/identities.md): the writes a login with a unionid adds, each under every
  // fault, once and on every attempt, the client retrying with the same code or a fresh one.
  // Three situations: a new user who takes the unionid; a second app's first login, whose
  // identity joins the user holding it; and the backfill of a user from before the binding.
  const unionClaim = (req: ProxiedRequest) => dynamoOp('UpdateItem')(req) && req.body.includes(ctx.env.UNIONIDS_TABLE!);
  const link = (req: ProxiedRequest) => dynamoOp('UpdateItem')(req) && req.body.includes('REMOVE unionConflict');
  const IDENTITY_STEPS: (Step & { situation: 'new user' | 'join' | 'backfill' })[] = [
    ...(['new user', 'join'] as const).flatMap((situation) => [
      { situation, name: 'identity row', upstream: 'dynamo' as const, match: (req: ProxiedRequest) => dynamoOp('UpdateItem')(req) && req.body.includes('if_not_exists(userId') },
      { situation, name: 'unionid claim', upstream: 'dynamo' as const, match: unionClaim },
      { situation, name: 'link', upstream: 'dynamo' as const, match: link },
    ]),
    { situation: 'join', name: 'commit', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:commit') },
    { situation: 'backfill', name: 'unionid claim', upstream: 'dynamo', match: unionClaim },
    { situation: 'backfill', name: 'link', upstream: 'dynamo', match: link },
  ];
  const identityScenarios = IDENTITY_STEPS.flatMap((step) =>
    KINDS.flatMap((kind) =>
      (Object.keys(MODES) as (keyof typeof MODES)[]).flatMap((mode) => RETRIES.map((retry) => ({ step, kind, mode, retry, label: `${step.situation}: ${step.name} × ${kind} × ${mode}, retried with the ${retry}` }))),
    ),
  );

  async function unionHolder(unionid: string) {
    const { Item } = await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.UNIONIDS_TABLE, Key: { unionid: { S: unionid } }, ConsistentRead: true }));
    return Item?.userId?.S;
  }

  it.each(identityScenarios)('identity: $label', async ({ step, kind, mode, retry, label }) => {
    const name = `i${++serial}x${randomBytes(3).toString('hex')}`;
    const ip = `198.51.100.${serial % 250}`;
    const mini2 = ctx.env.WECHAT_APPID_MINI2!;
    // The faulted logins: the second app's for the join, else the default app's.
    const appid = step.situation === 'join' ? mini2 : ctx.env.WECHAT_APPID!;
    const send = (code: string, proof: string, from = ip) => {
      const event = loginFrom(from, code);
      event.body = JSON.stringify({ code, appid });
      event.headers = { ...event.headers, 'x-login-proof': proof };
      return login(event);
    };
    // Before: the user of the first app, with the unionid (join) or from before the binding (backfill).
    let before: { userId: string } | undefined;
    if (step.situation !== 'new user') {
      const first = await post(`${name}.${step.situation === 'join' ? 'union0' : '0'}`, newProof(), '198.51.100.251');
      expect(first.statusCode).toBe(200);
      before = bodyOf(first);
    }
    const client = loginClient((n) => `${name}.union${n}`, (code, proof) => send(code, proof));
    const { codes, answers, successes, record } = client;

    // Act: the first attempt meets the fault; then the client retries as in the login scenarios.
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const first = await client.first();
    await faultOver();
    const consumedBeforeRetry = ctx.stack.wechat.consumed(codes[0]!, appid);
    const { result, retryMs } = await client.retry(first, retry);

    // Assess: the retry went through, quickly.
    expect(result.statusCode, `${label}: ${answers.join(' → ')}`).toBe(200);
    expect(retryMs, 'the retry succeeds within 2 s of the fault going away').toBeLessThan(2000);
    const extraWxLogins = codes.length - 1;
    expect(extraWxLogins, 'at most one extra wx.login').toBeLessThanOrEqual(1);
    if (!consumedBeforeRetry && retry === 'same code') expect(extraWxLogins, 'the same code works while WeChat has not consumed it').toBe(0);
    const replay = record(await send(codes.at(-1)!, client.proof(), '203.0.113.250'));
    expect(bodyOf(replay).token).toBe(bodyOf(result).token);
    record(await send(`${name}.unionlater`, newProof()));

    // The invariants, from the stores: one user per unionid, and it is the user of every
    // identity of the person; every session of the faulted identity is that user's; the
    // identity's loginCount counts its successful logins; isNewUser once per user.
    const holder = await unionHolder(stubUnionid(name));
    expect(holder, 'the unionid is held by one user').toMatch(/^[0-9A-Z]{26}$/);
    if (before) expect(holder, 'the user from before holds it').toBe(before.userId);
    const openid = stubOpenid(appid, name);
    const row = await userRow(openid);
    expect(row?.userId?.S, 'the identity is the holder’s').toBe(holder);
    expect(row?.unionid?.S, 'the identity is linked').toBe(stubUnionid(name));
    if (step.situation === 'join') {
      const home = await userRow(stubOpenid(ctx.env.WECHAT_APPID!, name));
      expect(row?.home?.S, 'the joined identity names the user’s home').toBe(home?.openid?.S);
      expect(home?.userId?.S).toBe(holder);
    }
    const tokens = new Map(successes.map((s) => [s.token, s]));
    for (const s of tokens.values()) expect(s.userId, 'every login answered the one user').toBe(holder);
    const owners = await sessionsOf(openid);
    expect(owners.every((owner) => owner === holder), 'every session points at the user').toBe(true);
    // The backfill's identity also has the session of its login from before the binding.
    expect(owners.length, 'one session per successful login').toBe(tokens.size + (step.situation === 'backfill' ? 1 : 0));
    const uncountable = step.name === 'identity row' ? answers.filter((a) => a !== '200').length : 0;
    const faultedCount = Number(row?.loginCount?.N) - (step.situation === 'backfill' ? 1 : 0);
    expect(faultedCount, 'loginCount counts successful logins').toBeGreaterThanOrEqual(tokens.size);
    expect(faultedCount, 'loginCount counts successful logins').toBeLessThanOrEqual(tokens.size + uncountable);
    expect([...tokens.values()].filter((s) => s.isNewUser).length, 'isNewUser once per user').toBe(step.situation === 'new user' ? 1 : 0);
    for (const code of codes) {
      const held = (await redisCommand(ctx.redis, 'GET', `wxlogin:code:${deriveId('login-code', code)}`)) as string | null;
      expect(held?.startsWith('p|') ?? false, `code ${code} is not left claimed`).toBe(false);
    }
    outcomes.push({ scenario: `identity: ${label}`, answers: answers.slice(0, answers.length - 2), extraWxLogins, retryMs });
  });

  // The OAuth logins (POST /user/wechatlogin/web and /app): their exchange under every fault,
  // the client retrying with the same code or a fresh one. A code WeChat may have consumed is
  // never sent to it again; the person, who has a mini-program user, is that one user.
  const OAUTH_ROUTES = [
    { route: '/web' as const, appOf: () => ctx.env.WECHAT_APPID_WEB!, code: (name: string, n: string) => `${name}.userinfo.union${n}` },
    { route: '/app' as const, appOf: () => ctx.env.WECHAT_APPID_APP!, code: (name: string, n: string) => `${name}.union${n}` },
  ];
  const oauthScenarios = OAUTH_ROUTES.flatMap((oauth) =>
    KINDS.flatMap((kind) =>
      (Object.keys(MODES) as (keyof typeof MODES)[]).flatMap((mode) => RETRIES.map((retry) => ({ oauth, kind, mode, retry, label: `${oauth.route}: exchange × ${kind} × ${mode}, retried with the ${retry}` }))),
    ),
  );

  it.each(oauthScenarios)('oauth login: $label', async ({ oauth, kind, mode, retry, label }) => {
    const name = `w${++serial}x${randomBytes(3).toString('hex')}`;
    const ip = `198.51.100.${serial % 250}`;
    const appid = oauth.appOf();
    const send = (code: string, proof: string, from = ip) => {
      const event = loginFrom(from, code);
      event.rawPath = `/user/wechatlogin${oauth.route}`;
      event.routeKey = `POST /user/wechatlogin${oauth.route}`;
      event.headers = { ...event.headers, 'x-login-proof': proof };
      return login(event);
    };
    const before = await post(`${name}.union0`, newProof(), '198.51.100.251');
    expect(before.statusCode).toBe(200);
    const owner = bodyOf(before).userId as string;
    const client = loginClient((n) => oauth.code(name, String(n)), (code, proof) => send(code, proof));
    const { codes, answers, successes } = client;
    const exchange = wechatPath('/sns/oauth2/access_token');

    // Act
    proxies.wechat.inject({ match: exchange, kind, delayMs: LATE_MS, times: MODES[mode] });
    const logged = proxies.wechat.log.length;
    const first = await client.first();
    await faultOver();
    // Never sent twice: one request for the code, whatever the fault did to its answer.
    const sentForFirst = proxies.wechat.log.slice(logged).filter((entry) => entry.path.includes('/sns/oauth2/access_token') && entry.path.includes(encodeURIComponent(codes[0]!)));
    expect(sentForFirst.length, `${label}: the consumed code was re-sent`).toBeLessThanOrEqual(1);
    expect(proxies.wechat.log.slice(logged).some((entry) => entry.path.includes('/sns/oauth2/access_token')), 'the exchange was tried').toBe(true);
    const consumedBeforeRetry = ctx.stack.wechat.consumed(codes[0]!, appid);
    const { result, retryMs } = await client.retry(first, retry);

    // Assess
    expect(result.statusCode, `${label}: ${answers.join(' → ')}`).toBe(200);
    expect(retryMs).toBeLessThan(2000);
    const extraWxLogins = codes.length - 1;
    expect(extraWxLogins).toBeLessThanOrEqual(1);
    if (!consumedBeforeRetry && retry === 'same code') expect(extraWxLogins, 'the same code works while WeChat has not consumed it').toBe(0);
    for (const s of successes) expect(s.userId, 'the one user of the person').toBe(owner);
    expect(successes.filter((s) => s.isNewUser)).toEqual([]);
    expect(await unionHolder(stubUnionid(name))).toBe(owner);
    const row = await userRow(stubOpenid(appid, name));
    expect(row?.userId?.S).toBe(owner);
    const owners = await sessionsOf(stubOpenid(appid, name));
    expect(owners.length, 'one session per successful login').toBe(new Set(successes.map((s) => s.token)).size);
    outcomes.push({ scenario: `oauth login: ${label}`, answers, extraWxLogins, retryMs });
  });

  // After a login: an authorization (one Redis script that looks the session up and slides it)
  // and a logout (one Redis transaction) under the same faults.
  /** One clean login: the session the next scenario works on. */
  async function session(name: string) {
    const result = await post(`${name}.1`, newProof(), '198.51.100.251');
    expect(result.statusCode).toBe(200);
    return bodyOf(result) as { token: string; userId: string };
  }
  const sessionScenarios = (Object.keys(MODES) as (keyof typeof MODES)[]).flatMap((mode) => KINDS.map((kind) => ({ kind, mode, label: `${kind} × ${mode}` })));

  it.each(sessionScenarios)('authorization: $label', async ({ kind, mode, label }) => {
    const { token, userId } = await session(`a${++serial}x${randomBytes(3).toString('hex')}`);

    // Act: the lookup meets the fault. The authorizer may get through (a re-send of the
    // idempotent lookup), or fail with an error (API Gateway: 500), but never deny a live session.
    proxies.upstash.inject({ match: upstashCommand('EVAL', 'wxlogin:touch'), kind, delayMs: LATE_MS, times: MODES[mode] });
    const first = await authorize(authorizerEvent(`Bearer ${token}`)).then(
      (result) => (result.isAuthorized ? 'allowed' : 'DENIED'),
      () => 'error (500)',
    );
    await faultOver();

    // Assess
    expect(first, label).not.toBe('DENIED');
    await expect(authorize(authorizerEvent(`Bearer ${token}`))).resolves.toMatchObject({ isAuthorized: true, context: { userId } });
    expect(Number(await redisCommand(ctx.redis, 'PTTL', `wxlogin:session:${hashToken(token)}`))).toBeGreaterThan(0);
    outcomes.push({ scenario: `authorization: ${label}`, answers: [first, 'allowed'], extraWxLogins: 0, retryMs: 0 });
  });

  it.each(sessionScenarios)('logout: $label', async ({ kind, mode, label }) => {
    const name = `o${++serial}x${randomBytes(3).toString('hex')}`;
    const { token } = await session(name);
    const other = bodyOf(await post(`${name}.2`, newProof(), '198.51.100.252')) as { token: string };
    const allowed = await authorize(authorizerEvent(`Bearer ${token}`));
    const asUser = httpEvent({ routeKey: 'POST /user/logout', body: '', requestContext: { ...httpEvent().requestContext, authorizer: { lambda: allowed.context } } as never });

    // Act: the revocation meets the fault; the client retries what did not answer 204.
    proxies.upstash.inject({ match: (req) => req.path === '/multi-exec', kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [answerOf(await logout(asUser))];
    await faultOver();
    if (answers[0] !== '204') answers.push(answerOf(await logout(asUser)));

    // Assess: revoked exactly this session, and a retry of the logout is harmless.
    expect(answers.at(-1), label).toBe('204');
    await expect(authorize(authorizerEvent(`Bearer ${token}`))).resolves.toMatchObject({ isAuthorized: false });
    await expect(authorize(authorizerEvent(`Bearer ${other.token}`))).resolves.toMatchObject({ isAuthorized: true });
    outcomes.push({ scenario: `logout: ${label}`, answers, extraWxLogins: 0, retryMs: 0 });
  });

  /** Each step × each kind × each mode, labelled. */
  const scenariosOf = <S extends Step>(steps: S[]) =>
    steps.flatMap((step) => KINDS.flatMap((kind) => (Object.keys(MODES) as (keyof typeof MODES)[]).map((mode) => ({ step, kind, mode, label: `${step.name} × ${kind} × ${mode}` }))));

  // Binding a phone number: every write of it, and the WeChat exchange, under the same faults.
  // The scenario rebinds (a first number clean, then a second under the fault), so freeing the
  // old number is one of the steps.
  const PHONE_STEPS: Step[] = [
    { name: 'code lookup', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:phone-code') },
    { name: 'getuserphonenumber', upstream: 'wechat', match: wechatPath('/wxa/business/getuserphonenumber') },
    // The result kept, with the binding's lease (on the user row instead when this fails).
    { name: 'code result kept', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:phone-remember') },
    { name: 'number claimed', upstream: 'dynamo', match: dynamoOp('PutItem') },
    { name: 'row written', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes(':binding') },
    { name: 'old number freed', upstream: 'dynamo', match: dynamoOp('DeleteItem') },
  ];
  const phoneScenarios = scenariosOf(PHONE_STEPS);
  const digits = randomPhone;

  async function claimsOf(userId: string): Promise<string[]> {
    const { Items = [] } = await ctx.stack.dynamo.client.send(new ScanCommand({ TableName: ctx.env.PHONES_TABLE }));
    return Items.filter((item) => item.userId?.S === userId).map((item) => item.phone!.S!);
  }

  it.each(phoneScenarios)('phone: $label', async ({ step, kind, mode, label }) => {
    const name = `p${++serial}x${randomBytes(3).toString('hex')}`;
    const { token, userId } = await session(name);
    const allowed = await authorize(authorizerEvent(`Bearer ${token}`));
    const bind = (code: string) =>
      phone(httpEvent({ routeKey: 'POST /user/phone', body: JSON.stringify({ code }), requestContext: { ...httpEvent().requestContext, authorizer: { lambda: allowed.context } } as never }));
    const [first, second] = [digits(), digits()];
    expect((await bind(`${first}.${name}`)).statusCode).toBe(200);

    // Act: the rebinding meets the fault; the client retries as the kit does.
    const codes = [`${second}.${name}`];
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [answerOf(await bind(codes[0]!))];
    await faultOver();
    const consumedBeforeRetry = ctx.stack.wechat.phoneCodeConsumed(codes[0]!);
    const faultGone = Date.now();
    for (let attempt = 0; answers.at(-1) !== '200' && attempt < 3; attempt++) {
      // INVALID_PHONE_CODE: the code was used at WeChat; the user taps the button again.
      if (answers.at(-1) === '400 INVALID_PHONE_CODE') codes.push(`${second}.${name}.again${attempt}`);
      answers.push(answerOf(await bind(codes.at(-1)!)));
    }
    const retryMs = Date.now() - faultGone;

    // Assess: bound to the new number, the old one free, nothing half-bound, quickly.
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toBe('200');
    expect(retryMs).toBeLessThan(2000);
    if (!consumedBeforeRetry) expect(codes, 'the same code works while WeChat has not consumed it').toHaveLength(1);
    const row = await userRow(stubOpenid(ctx.env.WECHAT_APPID!, name));
    expect(row?.phone?.M?.e164?.S).toBe(`+86${second}`);
    const held = await claimsOf(userId);
    expect(held, 'the new number is claimed by the user').toContain(`+86${second}`);
    // A claim on the old number may be left over only if freeing it was the step that failed;
    // it is free all the same, since the row no longer confirms it.
    if (step.name !== 'old number freed') expect(held, 'the old number is freed').not.toContain(`+86${first}`);
    outcomes.push({ scenario: `phone: ${label}`, answers, extraWxLogins: codes.length - 1, retryMs });
  });

  // The profile: setting an avatar (S3 and the row) and a nickname (WeChat's check and the
  // row), every request of each under the same faults. The avatar scenario replaces an avatar,
  // so deleting the old file is one of the steps.
  // S3's REST calls by method and query (the SDK adds `x-id=<Operation>` to some).
  const s3 = (method: string, query?: string) => (req: ProxiedRequest) =>
    req.method === method && (query ? req.path.includes(query) : !req.path.includes('tagging') && !req.path.includes('list-type') && !req.path.includes('delete'));
  const PROFILE_STEPS: (Step & { route: 'avatar' | 'nickname' })[] = [
    // The upload's lease on the user row, with its count against the upload limit.
    { route: 'avatar', name: 'lease taken', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('uploadCount') },
    { route: 'avatar', name: 'file stored', upstream: 's3', match: s3('PUT') },
    { route: 'avatar', name: 'file marked in use', upstream: 's3', match: s3('PUT', '?tagging') },
    { route: 'avatar', name: 'row written', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('avatarKey') },
    { route: 'avatar', name: 'files listed', upstream: 's3', match: s3('GET', 'list-type=2') },
    { route: 'avatar', name: 'old file deleted', upstream: 's3', match: s3('POST', '?delete') },
    { route: 'nickname', name: 'msg_sec_check', upstream: 'wechat', match: wechatPath('/wxa/msg_sec_check') },
    { route: 'nickname', name: 'row written', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('nickname') },
  ];
  const profileScenarios = PROFILE_STEPS.flatMap((step) =>
    KINDS.flatMap((kind) => (Object.keys(MODES) as (keyof typeof MODES)[]).map((mode) => ({ step, kind, mode, label: `${step.route}: ${step.name} × ${kind} × ${mode}` }))),
  );

  it.each(profileScenarios)('profile: $label', async ({ step, kind, mode, label }) => {
    const name = `v${++serial}x${randomBytes(3).toString('hex')}`;
    const { token, userId } = await session(name);
    const allowed = await authorize(authorizerEvent(`Bearer ${token}`));
    const as = (routeKey: string, extra: Record<string, unknown>) =>
      httpEvent({ routeKey, ...extra, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: allowed.context } } as never });
    const send = async () => {
      if (step.route === 'nickname') return profile(as('POST /user/profile', { body: JSON.stringify({ nickname: `Nick ${serial}` }) }));
      const { headers, body, isBase64Encoded } = await uploadEvent(IMAGES.jpeg);
      return avatar(as('POST /user/avatar', { headers, body, isBase64Encoded }));
    };
    if (step.route === 'avatar') {
      const { headers, body, isBase64Encoded } = await uploadEvent(IMAGES.png);
      expect((await avatar(as('POST /user/avatar', { headers, body, isBase64Encoded }))).statusCode).toBe(200);
    }

    // Act: the change meets the fault; the client retries what did not answer 200.
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [answerOf(await send())];
    await faultOver();
    const faultGone = Date.now();
    for (let attempt = 0; answers.at(-1) !== '200' && attempt < 3; attempt++) answers.push(answerOf(await send()));
    const retryMs = Date.now() - faultGone;

    // Assess: the change is in place, and nothing half-done is left that the next change would not clean.
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toBe('200');
    expect(retryMs).toBeLessThan(2000);
    const row = await userRow(stubOpenid(ctx.env.WECHAT_APPID!, name));
    if (step.route === 'nickname') {
      expect(row?.nickname?.S).toBe(`Nick ${serial}`);
    } else {
      const key = row?.avatarKey?.S;
      expect(key).toMatch(new RegExp(`^avatars/${userId}/.+\\.jpg$`));
      expect(ctx.stack.s3.object(key!)?.tags).toEqual({ avatar: 'in-use' });
      // A file of a failed attempt is either marked pending (the lifecycle rule removes it) or
      // in use but pointed at by no row (its row write failed or its answer was lost): the next
      // upload deletes it once it is older than any upload in flight. When the cleaning itself
      // failed, the old file waits for that next upload too.
      const mine = () => ctx.stack.s3.keys().filter((other) => other.startsWith(`avatars/${userId}/`));
      for (const other of mine().filter((k) => k !== key)) {
        expect(ctx.stack.s3.object(other)?.tags?.avatar, `${other} left behind`).toMatch(/^(pending|in-use)$/);
      }
      for (const other of mine()) ctx.stack.s3.object(other)!.lastModified = new Date(Date.now() - ORPHAN_AGE_MS - 1000);
      const next = bodyOf(await send());
      const kept = next.avatarUrl.slice(next.avatarUrl.indexOf('/avatars/') + 1);
      expect(mine()).toEqual([kept]);
    }
    outcomes.push({ scenario: `profile: ${label}`, answers, extraWxLogins: 0, retryMs });
  });
  /** A signed-in user with a phone number and an avatar: everything a deletion removes. */
  const withData = (prefix: string) => userWithData(fns, ctx.env.WECHAT_APPID!, `${prefix}${++serial}x${randomBytes(3).toString('hex')}`);

  /** Nothing of a deleted user is left but, at most, a tombstone with nothing personal in it. */
  async function expectDeleted(openid: string, userId: string) {
    const row = await userRow(openid);
    if (row) expect(Object.keys(row).sort(), 'only a tombstone is left').toEqual(['deletedAt', 'openid', 'purgeAt', 'userId']);
    expect(await claimsOf(userId)).toEqual([]);
    expect(ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${userId}/`))).toEqual([]);
    expect(await sessionsOf(openid)).toEqual([]);
  }

  // Deleting an account: every request of it under the same faults, the client behaving as the
  // kit's deleteAccount(): a fresh wx.login code on each attempt, a lost answer or a 5xx tried
  // again, and a retry the authorizer refuses taken as done (the purge ended the sessions).
  // (UserDeleted is only logged locally: publishing has no request to fault here.)
  const DELETE_STEPS: Step[] = [
    { name: 'jscode2session', upstream: 'wechat', match: wechatPath('/sns/jscode2session') },
    { name: 'deletion mark', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('deletingSince') },
    { name: 'leases closed', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:phone-leases-close') },
    { name: 'row read', upstream: 'dynamo', match: dynamoOp('GetItem') },
    { name: 'claims by user', upstream: 'dynamo', match: dynamoOp('Query') },
    { name: 'phone claim released', upstream: 'dynamo', match: (req) => dynamoOp('DeleteItem')(req) && req.body.includes(ctx.env.PHONES_TABLE!) },
    { name: 'avatar files listed', upstream: 's3', match: s3('GET', 'list-type=2') },
    { name: 'avatar files deleted', upstream: 's3', match: s3('POST', '?delete') },
    { name: 'tombstone', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('purgeAt') },
    { name: 'redis purge', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:purge-user') },
    { name: 'tombstone deleted', upstream: 'dynamo', match: (req) => dynamoOp('DeleteItem')(req) && req.body.includes(ctx.env.USERS_TABLE!) },
  ];
  const deleteScenarios = scenariosOf(DELETE_STEPS);

  it.each(deleteScenarios)('delete: $label', async ({ step, kind, mode, label }) => {
    const { name, openid, token, userId, as } = await withData('d');

    // One attempt as the kit makes it: through the authorizer (API Gateway), with a fresh code.
    let attempts = 0;
    const attempt = async (): Promise<string> => {
      const verdict = await authorize(authorizerEvent(`Bearer ${token}`)).catch(() => ({ isAuthorized: undefined }));
      if (verdict.isAuthorized === false) return 'denied';
      if (verdict.isAuthorized === undefined) return '500';
      return answerOf(await deleteAccount(as('POST /user/delete', { body: JSON.stringify({ code: `${name}.del${++attempts}` }) })));
    };

    // Act: the deletion meets the fault; the client retries until it is done or refused.
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [await attempt()];
    await faultOver();
    const faultGone = Date.now();
    for (let n = 0; !['204', 'denied'].includes(answers.at(-1)!) && n < 3; n++) answers.push(await attempt());
    const retryMs = Date.now() - faultGone;

    // Assess: deleted (a refusal after an attempt that may have run counts as done), and
    // nothing of the user is left but, at most, a tombstone with nothing personal in it.
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toMatch(/^(204|denied)$/);
    expect(retryMs).toBeLessThan(2000);
    await expectDeleted(openid, userId);
    expect((await authorize(authorizerEvent(`Bearer ${token}`))).isAuthorized).toBe(false);
    // The next login is a new account, and finishes whatever tombstone was left.
    const again = await post(`${name}.after`, newProof(), '198.51.100.251');
    expect(bodyOf(again)).toMatchObject({ isNewUser: true });
    expect(bodyOf(again).userId).not.toBe(userId);
    outcomes.push({ scenario: `delete: ${label}`, answers, extraWxLogins: attempts - 1, retryMs });
  });
  // WeChat's cancellation event (the user deleted their WeChat account), pushed to
  // /wechat/events: the push's own records (the claim, the done mark) and every request of the
  // deletion it runs, under the same faults. WeChat behaves as it says it does: any answer but
  // `success` (or none) and it sends the same push again, three times at most.
  const PUSH_STEPS: Step[] = [
    { name: 'claim', upstream: 'upstash', match: (req) => upstashCommand('SET', 'wxlogin:push:')(req) && /"nx"/i.test(String(req.body)) },
    { name: 'row read', upstream: 'dynamo', match: dynamoOp('GetItem') },
    { name: 'deletion mark', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('deletingSince') },
    { name: 'leases closed', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:phone-leases-close') },
    { name: 'claims by user', upstream: 'dynamo', match: dynamoOp('Query') },
    { name: 'phone claim released', upstream: 'dynamo', match: (req) => dynamoOp('DeleteItem')(req) && req.body.includes(ctx.env.PHONES_TABLE!) },
    { name: 'avatar files deleted', upstream: 's3', match: s3('POST', '?delete') },
    { name: 'tombstone', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('purgeAt') },
    { name: 'redis purge', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:purge-user') },
    { name: 'tombstone deleted', upstream: 'dynamo', match: (req) => dynamoOp('DeleteItem')(req) && req.body.includes(ctx.env.USERS_TABLE!) },
    { name: 'done mark', upstream: 'upstash', match: (req) => upstashCommand('SET', 'wxlogin:push:')(req) && !/"nx"/i.test(String(req.body)) },
  ];
  const pushScenarios = scenariosOf(PUSH_STEPS);

  it.each(pushScenarios)('push: cancellation: $label', async ({ step, kind, mode, label }) => {
    const { openid, userId } = await withData('w');

    // The one push WeChat sends, and sends again as it is.
    const signed = signPush(
      { token: ctx.env.WECHAT_PUSH_TOKEN!, encodingAesKey: ctx.env.WECHAT_PUSH_AES_KEY!, appId: ctx.env.WECHAT_APPID! },
      authorizationEvent('user_authorization_cancellation', openid, ctx.env.WECHAT_APPID!),
    );
    const send = async () => {
      const result = await wechatEvents(
        httpEvent({ routeKey: 'POST /wechat/events', rawPath: '/wechat/events', queryStringParameters: signed.query, body: signed.body, headers: { 'content-type': 'application/json' } }),
      );
      return result.statusCode === 200 ? result.body! : answerOf(result);
    };

    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [await send()];
    await faultOver();
    const faultGone = Date.now();
    for (let n = 0; answers.at(-1) !== 'success' && n < 3; n++) answers.push(await send());
    const retryMs = Date.now() - faultGone;

    // Assess: within WeChat's retries the account is deleted, and the push is recorded as done.
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toBe('success');
    expect(retryMs).toBeLessThan(2000);
    await expectDeleted(openid, userId);
    // A fourth copy of the push (a replay within the 5 minutes) runs nothing again.
    expect(await send()).toBe('success');
    outcomes.push({ scenario: `push: ${label}`, answers, extraWxLogins: 0, retryMs });
  });

  // A deletion beside another write of the same user, made deterministic: that write's request at
  // a chosen step is held 150 ms (slow, not failed: under our timeout), and the deletion starts
  // 40 ms into it, so it runs while the write is parked exactly there. The client deletes as the
  // kit does (a fresh code per attempt, a 503 tried again); WeChat sends its push again until
  // `success`. Then the stores are read: nothing of the deleted user is left.
  const HELD_MS = 150;
  const INTERLEAVINGS: { name: string; by: 'kit' | 'push'; upstream: Upstream; match: (req: ProxiedRequest) => boolean; run: (user: UserWithData) => Promise<unknown> }[] = [
    { name: 'a phone binding held at getuserphonenumber', by: 'kit', upstream: 'wechat', match: wechatPath('/wxa/business/getuserphonenumber'), run: (u) => phone(u.as('POST /user/phone', { body: JSON.stringify({ code: `${digits()}.${u.name}` }) })) },
    { name: 'a phone binding held at its claim', by: 'kit', upstream: 'dynamo', match: dynamoOp('PutItem'), run: (u) => phone(u.as('POST /user/phone', { body: JSON.stringify({ code: `${digits()}.${u.name}` }) })) },
    { name: 'a phone binding held at its row write', by: 'kit', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes(':binding'), run: (u) => phone(u.as('POST /user/phone', { body: JSON.stringify({ code: `${digits()}.${u.name}` }) })) },
    { name: 'an avatar upload held at its file', by: 'kit', upstream: 's3', match: s3('PUT'), run: async (u) => avatar(u.as('POST /user/avatar', await uploadEvent(IMAGES.jpeg))) },
    { name: 'an avatar upload held at its row write', by: 'kit', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('avatarKey'), run: async (u) => avatar(u.as('POST /user/avatar', await uploadEvent(IMAGES.jpeg))) },
    { name: 'a login held at its user write', by: 'kit', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('if_not_exists(userId'), run: (u) => post(`${u.name}.again`, newProof(), '198.51.100.253') },
    { name: 'a phone binding held at its claim', by: 'push', upstream: 'dynamo', match: dynamoOp('PutItem'), run: (u) => phone(u.as('POST /user/phone', { body: JSON.stringify({ code: `${digits()}.${u.name}` }) })) },
    { name: 'a login held at its user write', by: 'push', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('if_not_exists(userId'), run: (u) => post(`${u.name}.again`, newProof(), '198.51.100.253') },
  ];

  it.each(INTERLEAVINGS)('deletion ($by) beside $name', async ({ name, by, upstream, match, run }) => {
    const user = await withData('i');
    const deletion = async (): Promise<string> => {
      for (let attempt = 1; attempt <= 6; attempt++) {
        let answer: string;
        if (by === 'push') {
          const signed = signPush(
            { token: ctx.env.WECHAT_PUSH_TOKEN!, encodingAesKey: ctx.env.WECHAT_PUSH_AES_KEY!, appId: ctx.env.WECHAT_APPID! },
            authorizationEvent('user_authorization_cancellation', user.openid, ctx.env.WECHAT_APPID!),
          );
          const result = await wechatEvents(httpEvent({ routeKey: 'POST /wechat/events', rawPath: '/wechat/events', queryStringParameters: signed.query, body: signed.body, headers: { 'content-type': 'application/json' } }));
          answer = result.statusCode === 200 ? result.body! : answerOf(result);
          if (answer === 'success') return answer;
        } else {
          const verdict = await authorize(authorizerEvent(`Bearer ${user.token}`));
          if (!verdict.isAuthorized) return 'denied';
          answer = answerOf(await deleteAccount(user.as('POST /user/delete', { body: JSON.stringify({ code: `${user.name}.del${attempt}` }) })));
          if (answer === '204') return answer;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return 'gave up';
    };

    // Act: the write parks at its step; the deletion runs meanwhile.
    proxies[upstream].inject({ match, kind: 'delay-request', delayMs: HELD_MS, times: 1 });
    const [, deleted] = await Promise.all([run(user), new Promise((resolve) => setTimeout(resolve, 40)).then(deletion)]);
    await faultOver();

    // Assess: the deletion went through, and nothing of the user is left. A login beside it may
    // have started the WeChat user's new account (another userId, with its own session).
    expect(deleted).toMatch(/^(204|denied|success)$/);
    const row = await userRow(user.openid);
    const newAccount = row?.userId?.S && row.userId.S !== user.userId ? row.userId.S : undefined;
    if (row && !row.userId) {
      // The documented fence of a login write of unknown fate: nothing but the fence, expiring.
      expect(Object.keys(row).sort()).toEqual(['openid', 'purgeAt', 'undoneLoginId']);
    } else if (!newAccount) {
      await expectDeleted(user.openid, user.userId);
    }
    expect(await claimsOf(user.userId), 'phone claims left').toEqual([]);
    expect(ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${user.userId}/`)), 'avatar files left').toEqual([]);
    const owners = await sessionsOf(user.openid);
    expect(owners.filter((owner) => owner === user.userId), 'sessions of the deleted user').toEqual([]);
    if (newAccount) expect(owners, 'a new account has the session of its login').toContain(newAccount);
    outcomes.push({ scenario: `interleaving: deletion (${by}) beside ${name}`, answers: [String(deleted)], extraWxLogins: 0, retryMs: 0 });
  });

  // The operator's merge (lib/users/merge.ts): each of its writes under every fault, once and on
  // every attempt; the operator then runs it again, as the docs say. The source user has a
  // second app's identity, a phone number, an avatar and the unionid; the target a nickname.
  const copyOf = (req: ProxiedRequest) => req.method === 'PUT' && req.headers['x-amz-copy-source'] !== undefined;
  const MERGE_STEPS: Step[] = [
    { name: 'merged mark', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:purge-user') },
    { name: 'writers stopped', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('deletingSince = :now') },
    { name: 'number claimed', upstream: 'dynamo', match: dynamoOp('PutItem') },
    { name: 'number bound', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes(':binding') },
    { name: 'avatar copied', upstream: 's3', match: copyOf },
    { name: 'profile written', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('avatarKey') && req.body.includes(':value') },
    { name: 'unionid moved', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes(ctx.env.UNIONIDS_TABLE!) },
    { name: 'identity moved', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('SET userId = :into') && !req.body.includes('REMOVE nickname') },
    { name: 'home moved', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('REMOVE nickname, avatarKey') },
  ];

  it.each(scenariosOf(MERGE_STEPS))('merge: $label', async ({ step, kind, mode, label }) => {
    const tag = `${++serial}x${randomBytes(3).toString('hex')}`;
    const mini2 = ctx.env.WECHAT_APPID_MINI2!;
    const signIn = async (code: string, appid?: string) => {
      const event = loginFrom('198.51.100.251', code);
      if (appid) event.body = JSON.stringify({ code, appid });
      const result = await login(event);
      expect(result.statusCode).toBe(200);
      return bodyOf(result) as { token: string; userId: string };
    };
    const asUser = async (token: string, extra: Record<string, unknown>) =>
      httpEvent({ ...extra, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: (await authorize(authorizerEvent(`Bearer ${token}`))).context } } as never });
    const into = await signIn(`mt${tag}.1`);
    expect((await profile(await asUser(into.token, { body: JSON.stringify({ nickname: `Into ${tag}` }) }))).statusCode).toBe(200);
    const from = await signIn(`mf${tag}.union1`, mini2);
    const fromElsewhere = await signIn(`mf${tag}.union2`);
    expect(fromElsewhere.userId).toBe(from.userId);
    const number = digits();
    expect((await phone(await asUser(from.token, { body: JSON.stringify({ code: `${number}.mf${tag}` }) }))).statusCode).toBe(200);
    const { headers, body, isBase64Encoded } = await uploadEvent(IMAGES.png);
    expect((await avatar(await asUser(from.token, { headers, body, isBase64Encoded }))).statusCode).toBe(200);
    const { composeMerge } = await import('../../lib/users/compose');
    const { merge } = composeMerge({ ...proxiedEnv, LOG_LEVEL: 'error' });

    // Act: the merge meets the fault; then the operator runs it again.
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [await merge(from.userId, into.userId).then(() => 'merged', (err: { code?: string; message?: string }) => `failed ${err.code ?? ''} ${err.message}`.trim())];
    await faultOver();
    if (answers[0] !== 'merged') answers.push(await merge(from.userId, into.userId).then(() => 'merged', (err: { code?: string; message?: string }) => `failed ${err.code ?? ''} ${err.message}`.trim()));

    // Assess, from the stores: every identity of the source is the target's, the number and the
    // avatar with it, the target's nickname kept, nothing of the source signed in or left behind.
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toBe('merged');
    for (const openid of [stubOpenid(mini2, `mf${tag}`), stubOpenid(ctx.env.WECHAT_APPID!, `mf${tag}`)]) {
      expect((await userRow(openid))?.userId?.S, 'the identity is the target’s').toBe(into.userId);
      expect(await sessionsOf(openid), 'no session of the merged user').toEqual([]);
    }
    const home = await userRow(stubOpenid(ctx.env.WECHAT_APPID!, `mt${tag}`));
    expect(home?.phone?.M?.e164?.S, 'the number is on the target’s home row').toBe(`+86${number}`);
    expect(await claimsOf(into.userId), 'the number’s claim names the target').toContain(`+86${number}`);
    expect(await claimsOf(from.userId)).toEqual([]);
    expect(home?.nickname?.S).toBe(`Into ${tag}`);
    expect(home?.avatarKey?.S).toMatch(new RegExp(`^avatars/${into.userId}/`));
    expect(ctx.stack.s3.object(home!.avatarKey!.S!)?.tags).toEqual({ avatar: 'in-use' });
    expect(ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${from.userId}/`)), 'the source’s files').toEqual([]);
    expect(await unionHolder(stubUnionid(`mf${tag}`)), 'the unionid is the target’s').toBe(into.userId);
    expect((await authorize(authorizerEvent(`Bearer ${from.token}`))).isAuthorized).toBe(false);
    expect((await authorize(authorizerEvent(`Bearer ${into.token}`))).isAuthorized).toBe(true);
    // And the source's person signs in as the target from either app.
    expect((await signIn(`mf${tag}.union3`, mini2)).userId).toBe(into.userId);
    outcomes.push({ scenario: `merge: ${label}`, answers, extraWxLogins: 0, retryMs: 0 });
  });

  // An operator's suspension (lib/users/suspension.ts): its writes under every fault, once and on
  // every attempt, then run again; and a login in flight while it is written. No session of the
  // user may outlive it, and no login may commit one while it stands.
  const SUSPEND_STEPS: Step[] = [
    { name: 'row record', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('suspendedReason') },
    { name: 'mark and sessions', upstream: 'upstash', match: upstashCommand('EVAL', 'wxlogin:suspend') },
  ];

  async function suspendedState(name: string, userId: string, token: string) {
    expect(await redisCommand(ctx.redis, 'GET', `wxlogin:suspended:${userId}`), 'the mark stands').toBeTruthy();
    expect(await sessionsOf(stubOpenid(ctx.env.WECHAT_APPID!, name)), 'no session of the suspended user').toEqual([]);
    expect((await authorize(authorizerEvent(`Bearer ${token}`))).isAuthorized).toBe(false);
    const again = await post(`${name}.after`, newProof(), '198.51.100.249');
    expect(answerOf(again), 'a login is refused').toBe('403 ACCOUNT_SUSPENDED');
  }

  it.each(scenariosOf(SUSPEND_STEPS))('suspension: $label', async ({ step, kind, mode, label }) => {
    const name = `s${++serial}x${randomBytes(3).toString('hex')}`;
    const { token, userId } = await session(name);
    await post(`${name}.2`, newProof(), '198.51.100.252');
    const { composeOperator } = await import('../../lib/users/compose');
    const { operator } = composeOperator({ ...proxiedEnv, LOG_LEVEL: 'error' });
    const run = () => operator.suspend(userId, { reason: 'fault suite' }).then(() => 'suspended', (err: { code?: string }) => `failed ${err.code ?? ''}`.trim());

    // Act: the suspension meets the fault; the operator runs it again.
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [await run()];
    await faultOver();
    if (answers[0] !== 'suspended') answers.push(await run());

    // Assess
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toBe('suspended');
    await suspendedState(name, userId, token);
    outcomes.push({ scenario: `suspension: ${label}`, answers, extraWxLogins: 0, retryMs: 0 });
  });

  it.each(['claim', 'user write', 'commit'] as const)('interleaving: a suspension beside a login held at its %s', async (held) => {
    const name = `t${++serial}x${randomBytes(3).toString('hex')}`;
    const { token, userId } = await session(name);
    const { composeOperator } = await import('../../lib/users/compose');
    const { operator } = composeOperator({ ...proxiedEnv, LOG_LEVEL: 'error' });
    const match = held === 'claim' ? upstashCommand('EVAL', 'wxlogin:claim') : held === 'commit' ? upstashCommand('EVAL', 'wxlogin:commit') : (req: ProxiedRequest) => dynamoOp('UpdateItem')(req) && req.body.includes('if_not_exists(userId');
    const upstream = held === 'user write' ? 'dynamo' : 'upstash';

    // Act: the login parks at its step; the suspension runs meanwhile.
    proxies[upstream].inject({ match, kind: 'delay-request', delayMs: HELD_MS, times: 1 });
    const [login] = await Promise.all([post(`${name}.2`, newProof(), '198.51.100.248'), new Promise((resolve) => setTimeout(resolve, 40)).then(() => operator.suspend(userId, { reason: 'fault suite' }))]);
    await faultOver();

    // Assess: whatever the login answered, no session of the user is left.
    expect([200, 403]).toContain(login.statusCode);
    if (login.statusCode === 200) expect((await authorize(authorizerEvent(`Bearer ${bodyOf(login).token}`))).isAuthorized, 'the login’s session was ended').toBe(false);
    await suspendedState(name, userId, token);
    outcomes.push({ scenario: `interleaving: suspension beside a login held at its ${held}`, answers: [answerOf(login)], extraWxLogins: 0, retryMs: 0 });
  });

  // Lifting a suspension (lib/users/suspension.ts): the mark first, then the row's record, under
  // every fault, then run again. Afterwards the next login is in, and nothing says suspended.
  const UNSUSPEND_STEPS: Step[] = [
    { name: 'mark lifted', upstream: 'upstash', match: upstashCommand('DEL') },
    { name: 'row record cleared', upstream: 'dynamo', match: (req) => dynamoOp('UpdateItem')(req) && req.body.includes('REMOVE suspendedReason') },
  ];

  it.each(scenariosOf(UNSUSPEND_STEPS))('unsuspension: $label', async ({ step, kind, mode, label }) => {
    const name = `u${++serial}x${randomBytes(3).toString('hex')}`;
    const { userId } = await session(name);
    const { composeOperator } = await import('../../lib/users/compose');
    const { operator } = composeOperator({ ...proxiedEnv, LOG_LEVEL: 'error' });
    await operator.suspend(userId, { reason: 'fault suite' });
    const run = () => operator.unsuspend(userId).then(() => 'lifted', (err: { code?: string }) => `failed ${err.code ?? ''}`.trim());

    // Act: the lifting meets the fault; the operator runs it again.
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [await run()];
    await faultOver();
    if (answers[0] !== 'lifted') answers.push(await run());

    // Assess: no mark, no record, and the next login is the user's.
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toBe('lifted');
    expect(await redisCommand(ctx.redis, 'GET', `wxlogin:suspended:${userId}`), 'the mark is gone').toBeNull();
    expect((await userRow(stubOpenid(ctx.env.WECHAT_APPID!, name)))?.suspendedAt, 'the row records no suspension').toBeUndefined();
    expect((await operator.show(userId))?.status).toEqual({ status: 'active' });
    const back = await post(`${name}.back`, newProof(), '198.51.100.247');
    expect(answerOf(back)).toBe('200');
    expect(bodyOf(back).userId).toBe(userId);
    outcomes.push({ scenario: `unsuspension: ${label}`, answers, extraWxLogins: 0, retryMs: 0 });
  });

  // "Sign out that phone" (DELETE /user/sessions/{id}): the index read and the transaction that
  // ends the session, under every fault; the client retries what did not answer 204. Afterwards
  // that session is dead and no other is: a retry of a DELETE that landed answers 404.
  const END_SESSION_STEPS: Step[] = [
    { name: 'index read', upstream: 'upstash', match: upstashCommand('ZRANGE') },
    { name: 'session ended', upstream: 'upstash', match: (req) => req.path === '/multi-exec' },
  ];

  it.each(scenariosOf(END_SESSION_STEPS))('session end: $label', async ({ step, kind, mode, label }) => {
    const name = `e${++serial}x${randomBytes(3).toString('hex')}`;
    const { token } = await session(name);
    const target = bodyOf(await post(`${name}.2`, newProof(), '198.51.100.246')) as { token: string };
    const other = bodyOf(await post(`${name}.3`, newProof(), '198.51.100.245')) as { token: string };
    const sessions = await coldStart('sessions', proxiedEnv);
    const allowed = await authorize(authorizerEvent(`Bearer ${token}`));
    const id = publicSessionId(hashToken(target.token));
    const end = () =>
      sessions(
        httpEvent({
          routeKey: 'DELETE /user/sessions/{id}',
          rawPath: `/user/sessions/${id}`,
          pathParameters: { id },
          requestContext: { ...httpEvent().requestContext, http: { ...httpEvent().requestContext.http, method: 'DELETE' }, authorizer: { lambda: allowed.context } } as never,
        }),
      );

    // Act
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [answerOf(await end())];
    await faultOver();
    if (answers[0] !== '204') answers.push(answerOf(await end()));

    // Assess: the asked-for session ended (204, or 404 to a retry of a DELETE that landed), no other.
    expect(['204', '404 SESSION_NOT_FOUND'], `${label}: ${answers.join(' → ')}`).toContain(answers.at(-1));
    expect((await authorize(authorizerEvent(`Bearer ${target.token}`))).isAuthorized, 'the session asked for is ended').toBe(false);
    expect((await authorize(authorizerEvent(`Bearer ${token}`))).isAuthorized, 'the caller’s session lives').toBe(true);
    expect((await authorize(authorizerEvent(`Bearer ${other.token}`))).isAuthorized, 'no other session ended').toBe(true);
    outcomes.push({ scenario: `session end: ${label}`, answers, extraWxLogins: 0, retryMs: 0 });
  });

  // The session cap and the login log, both in the commit script: a user at the cap (2 here)
  // logs in with the commit under every fault, retrying the same code, then a fresh one. Never
  // more live sessions than the cap; only the least recently used end; each session committed
  // has one log entry, and a login that committed nothing has none.
  it.each(scenariosOf([LOGIN_STEPS.find((s) => s.name === 'commit')!]))('session cap and login log: $label', async ({ step, kind, mode, label }) => {
    const capped = await coldStart('login', { ...proxiedEnv, MAX_SESSIONS_PER_USER: '2' });
    delete process.env.MAX_SESSIONS_PER_USER;
    const postCapped = (code: string, proof: string) => {
      const event = loginFrom('198.51.100.244', code);
      event.headers = { ...event.headers, 'x-login-proof': proof };
      return capped(event);
    };
    const name = `k${++serial}x${randomBytes(3).toString('hex')}`;
    const first = bodyOf(await postCapped(`${name}.1`, newProof())) as { token: string; userId: string };
    const second = bodyOf(await postCapped(`${name}.2`, newProof())) as { token: string };
    await new Promise((resolve) => setTimeout(resolve, 5));
    // The first is used now: the second is the least recently used.
    expect((await authorize(authorizerEvent(`Bearer ${first.token}`))).isAuthorized).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 5));

    // Act: the third login's commit meets the fault; the client retries the code, then a fresh one.
    proxies[step.upstream].inject({ match: step.match, kind, delayMs: LATE_MS, times: MODES[mode] });
    const proof = newProof();
    let final = await postCapped(`${name}.3`, proof);
    const answers = [answerOf(final)];
    await faultOver();
    if (final.statusCode !== 200) answers.push(answerOf((final = await postCapped(`${name}.3`, proof))));
    if (final.statusCode !== 200) answers.push(answerOf((final = await postCapped(`${name}.4`, newProof()))));

    // Assess
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toBe('200');
    const live = await sessionsOf(stubOpenid(ctx.env.WECHAT_APPID!, name));
    expect(live.length, 'never more live sessions than the cap').toBeLessThanOrEqual(2);
    const log = ((await redisCommand(ctx.redis, 'ZRANGE', `wxlogin:login-log:${first.userId}`, '0', '-1')) as string[]).map((e) => JSON.parse(e) as { result: string; session?: string });
    const logged = log.filter((e) => e.result === 'success').map((e) => e.session!);
    expect(new Set(logged).size, 'one log entry per session committed').toBe(logged.length);
    expect(logged.length, 'the two before, and at least the one that answered').toBeGreaterThanOrEqual(3);
    expect(live.length).toBe(2);
    if (logged.length === 3) {
      // Exactly one more session: the least recently used (the second) made way for it.
      expect((await authorize(authorizerEvent(`Bearer ${first.token}`))).isAuthorized, 'the recently used session lives').toBe(true);
      expect((await authorize(authorizerEvent(`Bearer ${second.token}`))).isAuthorized, 'the least recently used ended').toBe(false);
    }
    expect((await authorize(authorizerEvent(`Bearer ${bodyOf(final).token}`))).isAuthorized, 'the session the client holds lives').toBe(true);
    outcomes.push({ scenario: `session cap and login log: ${label}`, answers, extraWxLogins: answers.length > 2 ? 1 : 0, retryMs: 0 });
  });

  // Open data (POST /user/opendata): WeChat's checksession under every fault, for a stale key
  // and for a current one. A late or lost answer is a retryable 503, never the other verdict:
  // a current key is never called expired (the kit would log in for nothing), a stale one never
  // reported as bad data (the kit would not heal).
  const OPENDATA_SCENARIOS = (['stale key', 'current key'] as const).flatMap((key) =>
    KINDS.flatMap((kind) => (Object.keys(MODES) as (keyof typeof MODES)[]).map((mode) => ({ key, kind, mode, label: `checksession for a ${key} × ${kind} × ${mode}` }))),
  );

  it.each(OPENDATA_SCENARIOS)('open data: $label', async ({ key, kind, mode, label }) => {
    const name = `d${++serial}x${randomBytes(3).toString('hex')}`;
    const { token } = await session(name);
    // A stale key: another wx.login of the user's reached WeChat; the data is encrypted with the new key.
    if (key === 'stale key') await post(`${name}.2`, newProof(), '198.51.100.243');
    const data =
      key === 'stale key'
        ? await (await fetch(`${ctx.env.WECHAT_API_BASE}/__stub/opendata`, { method: 'POST', body: JSON.stringify({ name, data: { stepInfoList: [] } }) })).json()
        : { encryptedData: randomBytes(48).toString('base64'), iv: randomBytes(16).toString('base64') };
    const opendata = await coldStart('opendata', proxiedEnv);
    const allowed = await authorize(authorizerEvent(`Bearer ${token}`));
    const read = () =>
      opendata(
        httpEvent({
          routeKey: 'POST /user/opendata',
          rawPath: '/user/opendata',
          body: JSON.stringify(data),
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          requestContext: { ...httpEvent().requestContext, authorizer: { lambda: allowed.context } } as never,
        }),
      );
    const verdict = key === 'stale key' ? '401 SESSION_KEY_EXPIRED' : '400 OPENDATA_INVALID';

    // Act
    proxies.wechat.inject({ match: wechatPath('/wxa/checksession'), kind, delayMs: LATE_MS, times: MODES[mode] });
    const answers = [answerOf(await read())];
    await faultOver();
    if (answers[0] !== verdict) answers.push(answerOf(await read()));

    // Assess: the right verdict, or a retryable 503 first; never the other verdict.
    expect([verdict, '503 WECHAT_UNAVAILABLE'], `${label}: ${answers.join(' → ')}`).toContain(answers[0]);
    expect(answers.at(-1), `${label}: ${answers.join(' → ')}`).toBe(verdict);
    outcomes.push({ scenario: `open data: ${label}`, answers, extraWxLogins: 0, retryMs: 0 });
  });
});
