import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../lib/errors';
import {
  EXPIRY_MARGIN_SECONDS,
  accessTokenKey,
  createRedisAccessTokenCache,
  createWechatApi,
  type WechatApiDeps,
  type WechatTransport,
} from '../../lib/adapters/wechat-access-token';
import { FakeTokenRedis } from '../support/fake-token-redis';
import { failure } from '../support/failure';

const APP_ID = 'wx1234567890abcdef';
const SECRET = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
const KEY = accessTokenKey('wxlogin:', APP_ID);
const PHONE_API = '/wxa/business/getuserphonenumber';

type HttpAnswer = { status: number; body: string };
const json = (body: unknown, status = 200): HttpAnswer => ({ status, body: JSON.stringify(body) });
/** WeChat's tokens: opaque, ~136 printable characters. */
const newToken = () => `86_${randomBytes(100).toString('base64url')}`;

/**
 * WeChat as the transport sees it: stable_token hands out the current token in normal mode;
 * the API answers with a valid token and 40001 without. Answers queued in `stableAnswers` /
 * `apiAnswers` are given first, one per request.
 */
class FakeWechat {
  current = newToken();
  readonly valid = new Set([this.current]);
  readonly issued = [this.current];
  expiresIn = 7200;
  readonly stableCalls: { body: Record<string, unknown>; idempotent: boolean; timeoutMs: number }[] = [];
  readonly apiCalls: { path: string; token: string | null; body: unknown; idempotent: boolean; timeoutMs: number }[] = [];
  readonly stableAnswers: (() => HttpAnswer | Promise<HttpAnswer>)[] = [];
  readonly apiAnswers: ((token: string | null) => HttpAnswer | Promise<HttpAnswer>)[] = [];

  /** WeChat replaces the token (force_refresh elsewhere, or an AppSecret reset): the old one is dead. */
  rotate(): string {
    this.valid.delete(this.current);
    this.current = newToken();
    this.valid.add(this.current);
    this.issued.push(this.current);
    return this.current;
  }

  readonly transport = vi.fn<WechatTransport>(async (url, init) => {
    // A real request takes a turn of the event loop: concurrent callers overlap here.
    await new Promise((resolve) => setImmediate(resolve));
    const { pathname, searchParams } = new URL(url);
    if (pathname === '/cgi-bin/stable_token') {
      this.stableCalls.push({ body: JSON.parse(init.body ?? 'null'), idempotent: init.idempotent, timeoutMs: init.timeoutMs });
      const scripted = this.stableAnswers.shift();
      if (scripted) return scripted();
      return json({ access_token: this.current, expires_in: this.expiresIn });
    }
    const token = searchParams.get('access_token');
    this.apiCalls.push({ path: pathname, token, body: init.body === undefined ? Object.fromEntries([...searchParams].filter(([k]) => k !== 'access_token')) : JSON.parse(init.body), idempotent: init.idempotent, timeoutMs: init.timeoutMs });
    const scripted = this.apiAnswers.shift();
    if (scripted) return scripted(token);
    if (!token || !this.valid.has(token)) return json({ errcode: 40001, errmsg: 'invalid credential, access_token is invalid or not latest, rid: 1' });
    return json({ errcode: 0, errmsg: 'ok', echo: init.body === undefined ? null : JSON.parse(init.body) });
  });
}

let clock: number;
const now = () => clock;
const sleep = vi.fn(async (ms: number) => {
  clock += ms;
});

beforeEach(() => {
  clock = 1_760_000_000_000;
  sleep.mockClear();
});

/** One Lambda container: its own memory, the shared (fake) Redis. */
function container(wechat: FakeWechat, redis: FakeTokenRedis, overrides: Partial<WechatApiDeps> = {}) {
  const onTokenFetch = vi.fn();
  const warn = vi.fn();
  const api = createWechatApi({
    appId: APP_ID,
    appSecret: SECRET,
    apiBase: 'https://api.weixin.qq.com',
    timeoutMs: 3000,
    deadlineMs: 5000,
    cache: createRedisAccessTokenCache(redis, { keyPrefix: 'wxlogin:', appId: APP_ID, appSecret: SECRET }),
    now,
    sleep,
    random: () => 0.5,
    transport: wechat.transport,
    onTokenFetch,
    logger: { warn },
    ...overrides,
  });
  return { api, onTokenFetch, warn };
}

function setup() {
  const wechat = new FakeWechat();
  const redis = new FakeTokenRedis(now);
  return { wechat, redis, ...container(wechat, redis) };
}

/** What an error lets anyone see: message, details, cause. */
const visible = (err: AppError) => JSON.stringify({ message: err.message, details: err.details, cause: String(err.cause), stack: err.stack });

describe('Function: createWechatApi', () => {
  describe('Method: post', () => {
    it('asks stable_token in normal mode, then POSTs the JSON body with ?access_token= to the path', async () => {
      const { api, wechat } = setup();
      await expect(api.post(PHONE_API, { code: 'c1', openid: 'o1' })).resolves.toEqual({ errcode: 0, errmsg: 'ok', echo: { code: 'c1', openid: 'o1' } });
      expect(wechat.stableCalls).toEqual([
        { body: { grant_type: 'client_credential', appid: APP_ID, secret: SECRET, force_refresh: false }, idempotent: true, timeoutMs: 3000 },
      ]);
      const [url, init] = wechat.transport.mock.calls[1]!;
      expect(url).toBe(`https://api.weixin.qq.com${PHONE_API}?access_token=${encodeURIComponent(wechat.current)}`);
      expect(init).toMatchObject({ method: 'POST', body: '{"code":"c1","openid":"o1"}' });
    });

    it('never re-sends a request after a reset unless the caller says it is idempotent', async () => {
      const { api, wechat } = setup();
      await api.post(PHONE_API, {});
      await api.post(PHONE_API, {}, { idempotent: false });
      await api.post(PHONE_API, {}, { idempotent: true });
      expect(wechat.apiCalls.map((c) => c.idempotent)).toEqual([false, false, true]);
    });

    it('returns an answer with another errcode to the caller, errcode as a number', async () => {
      const { api, wechat } = setup();
      wechat.apiAnswers.push(() => json({ errcode: '40029', errmsg: 'invalid code, rid: 2' }));
      await expect(api.post(PHONE_API, {})).resolves.toEqual({ errcode: 40029, errmsg: 'invalid code, rid: 2' });
    });

    it('refuses a path with a query or a host, before anything is sent', async () => {
      const { api, wechat } = setup();
      for (const path of ['/a?b=c', 'https://evil.example/x', 'relative']) await expect(api.post(path, {})).rejects.toThrow(TypeError);
      expect(wechat.transport).not.toHaveBeenCalled();
    });
  });

  describe('the token, shared and cheap', () => {
    it('asks stable_token once per container; a warm container asks neither WeChat nor Redis', async () => {
      const { api, wechat, redis, onTokenFetch } = setup();
      for (let i = 0; i < 5; i++) await api.post(PHONE_API, { i });
      expect(wechat.stableCalls).toHaveLength(1);
      expect(onTokenFetch).toHaveBeenCalledTimes(1);
      expect(wechat.apiCalls).toHaveLength(5);
      expect(redis.calls).toEqual({ get: 1, set: 1, eval: 0 });
    });

    it('shares one stable_token call among 20 concurrent callers of a cold container', async () => {
      const { api, wechat, redis } = setup();
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => api.post(PHONE_API, { i })));
      expect(answers.map((a) => (a.echo as { i: number }).i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(wechat.stableCalls).toHaveLength(1);
      expect(redis.calls.get).toBe(1);
      expect(new Set(wechat.apiCalls.map((c) => c.token))).toEqual(new Set([wechat.current]));
    });

    it('shares a failed fetch too: 20 concurrent callers get its error from one stable_token call', async () => {
      const { api, wechat } = setup();
      wechat.stableAnswers.push(() => json({}, 502));
      const settled = await Promise.allSettled(Array.from({ length: 20 }, () => api.post(PHONE_API, {})));
      expect(settled.map((s) => s.status === 'rejected' && (s.reason as AppError).code)).toEqual(Array(20).fill('WECHAT_UNAVAILABLE'));
      expect(wechat.stableCalls).toHaveLength(1);
    });

    it('lets a cold container take the token from Redis without asking stable_token', async () => {
      const { api, wechat, redis } = setup();
      await api.post(PHONE_API, {});
      const cold = container(wechat, redis);
      await cold.api.post(PHONE_API, {});
      await cold.api.post(PHONE_API, {});
      expect(cold.onTokenFetch).not.toHaveBeenCalled();
      expect(wechat.stableCalls).toHaveLength(1);
      expect(redis.calls.get).toBe(2);
      expect(wechat.apiCalls.at(-1)!.token).toBe(wechat.current);
    });

    it(`keeps the token for expires_in − ${EXPIRY_MARGIN_SECONDS} s, in memory and in Redis, then fetches a new one`, async () => {
      const { api, wechat, redis } = setup();
      await api.post(PHONE_API, {});
      const ttlMs = (7200 - EXPIRY_MARGIN_SECONDS) * 1000;
      expect(redis.ttl(KEY)).toBe(ttlMs);

      clock += ttlMs - 1;
      await api.post(PHONE_API, {});
      expect(wechat.stableCalls).toHaveLength(1);

      clock += 1;
      const renewed = wechat.rotate(); // in its last 5 minutes WeChat hands out the next token
      await api.post(PHONE_API, {});
      expect(wechat.stableCalls).toHaveLength(2);
      expect(wechat.apiCalls.at(-1)!.token).toBe(renewed);
    });

    it('caches even the shortest token WeChat documents (expires_in 300) for 300 − margin seconds', async () => {
      const { api, wechat, redis } = setup();
      wechat.expiresIn = 300;
      await api.post(PHONE_API, {});
      expect(redis.ttl(KEY)).toBe((300 - EXPIRY_MARGIN_SECONDS) * 1000);
    });

    it('uses a token whose expires_in is within the margin for its own call only', async () => {
      const { api, wechat, redis } = setup();
      wechat.expiresIn = EXPIRY_MARGIN_SECONDS;
      await api.post(PHONE_API, {});
      await api.post(PHONE_API, {});
      expect(wechat.stableCalls).toHaveLength(2);
      expect(redis.ttl(KEY)).toBeUndefined();
    });

    it('stores the token sealed: Redis holds a digest, the expiry and ciphertext, never the token', async () => {
      const { api, wechat, redis } = setup();
      await api.post(PHONE_API, {});
      const stored = redis.entries.get(KEY)!.value;
      expect(stored).not.toContain(wechat.current);
      expect(stored).not.toContain(wechat.current.slice(3, 40));
      expect(stored).toMatch(/^[A-Za-z0-9_-]{16}\|\d+\|[A-Za-z0-9_-]+$/);
    });

    it('treats a value sealed under another AppSecret as a miss, and replaces it', async () => {
      const { api, wechat, redis } = setup();
      await api.post(PHONE_API, {});
      const rotatedSecret = container(wechat, redis, {
        appSecret: 'another-secret-after-a-reset-000',
        cache: createRedisAccessTokenCache(redis, { keyPrefix: 'wxlogin:', appId: APP_ID, appSecret: 'another-secret-after-a-reset-000' }),
      });
      await rotatedSecret.api.post(PHONE_API, {});
      expect(rotatedSecret.onTokenFetch).toHaveBeenCalledTimes(1);
      // What it wrote opens under the new secret: the next container with it reads Redis.
      const next = container(wechat, redis, {
        cache: createRedisAccessTokenCache(redis, { keyPrefix: 'wxlogin:', appId: APP_ID, appSecret: 'another-secret-after-a-reset-000' }),
      });
      await next.api.post(PHONE_API, {});
      expect(next.onTokenFetch).not.toHaveBeenCalled();
    });

    it.each([
      ['garbage', 'not a token'],
      ['a tampered digest', (v: string) => `AAAAAAAAAAAAAAAA${v.slice(16)}`],
      ['a tampered ciphertext', (v: string) => v.slice(0, -4) + 'AAAA'],
      ['an expiry that is not a number', (v: string) => v.replace(/\|\d+\|/, '|soon|')],
    ])('treats %s in Redis as a miss', async (_name, change) => {
      const { api, wechat, redis } = setup();
      await api.post(PHONE_API, {});
      const entry = redis.entries.get(KEY)!;
      entry.value = typeof change === 'string' ? change : change(entry.value);
      const cold = container(wechat, redis);
      await cold.api.post(PHONE_API, {});
      expect(cold.onTokenFetch).toHaveBeenCalledTimes(1);
      expect(wechat.apiCalls.at(-1)!.token).toBe(wechat.current);
    });

    it('keeps one key per appid under the prefix', async () => {
      const { wechat, redis } = setup();
      const other = container(wechat, redis, {
        appId: 'wx0000000000other',
        cache: createRedisAccessTokenCache(redis, { keyPrefix: 'stage2:', appId: 'wx0000000000other', appSecret: SECRET }),
      });
      await other.api.post(PHONE_API, {});
      expect([...redis.entries.keys()]).toEqual(['stage2:wechat:access-token:wx0000000000other']);
    });
  });

  describe('refresh on a refused token', () => {
    it.each([
      [40001, 'invalid credential, access_token is invalid or not latest'],
      [42001, 'access_token expired'],
      [40014, 'invalid access_token'],
    ])('on %i drops the token, fetches it again and retries once', async (errcode, errmsg) => {
      const { api, wechat, redis } = setup();
      await api.post(PHONE_API, {});
      const old = wechat.current;
      const fresh = wechat.rotate();
      wechat.apiAnswers.push(() => json({ errcode, errmsg }));
      await expect(api.post(PHONE_API, { code: 'c' })).resolves.toMatchObject({ errcode: 0 });
      expect(wechat.apiCalls.slice(-2).map((c) => c.token)).toEqual([old, fresh]);
      expect(wechat.apiCalls.at(-1)!.body).toEqual({ code: 'c' });
      expect(wechat.stableCalls).toHaveLength(2);
      // The fresh token is shared: another container takes it from Redis.
      const cold = container(wechat, redis);
      await cold.api.post(PHONE_API, {});
      expect(cold.onTokenFetch).not.toHaveBeenCalled();
    });

    it('throws WECHAT_ERROR when the fresh token is refused too, without a third attempt', async () => {
      const { api, wechat } = setup();
      wechat.apiAnswers.push(
        () => json({ errcode: 40001, errmsg: 'invalid credential' }),
        () => json({ errcode: 42001, errmsg: 'access_token expired' }),
      );
      const err = await failure(api.post(PHONE_API, {}));
      expect(err.code).toBe('WECHAT_ERROR');
      expect(err.details).toMatchObject({ api: PHONE_API, errcode: 42001 });
      expect(wechat.apiCalls).toHaveLength(2);
      expect(wechat.stableCalls).toHaveLength(2);
    });

    it('drops the token in Redis only if it is still the one that failed (another container already refreshed)', async () => {
      const { api: a, wechat, redis } = setup();
      const b = container(wechat, redis);
      await a.post(PHONE_API, {});
      await b.api.post(PHONE_API, {});
      const fresh = wechat.rotate();

      // B meets the dead token first: it drops it and shares the fresh one.
      await b.api.post(PHONE_API, {});
      expect(wechat.stableCalls).toHaveLength(2);
      const shared = redis.entries.get(KEY)!.value;

      // A still holds the dead token in memory: its refresh must not throw B's fresh one away.
      await a.post(PHONE_API, {});
      expect(redis.entries.get(KEY)?.value).toBe(shared);
      expect(redis.calls.eval).toBe(2);
      expect(wechat.stableCalls).toHaveLength(2);
      expect(wechat.apiCalls.at(-1)!.token).toBe(fresh);
    });

    it('does not take the refused token back from Redis when dropping it failed', async () => {
      const { api, wechat, redis } = setup();
      await api.post(PHONE_API, {});
      const fresh = wechat.rotate();
      const evalSpy = vi.spyOn(redis, 'eval').mockRejectedValueOnce(new Error('timeout'));
      await expect(api.post(PHONE_API, {})).resolves.toMatchObject({ errcode: 0 });
      expect(evalSpy).toHaveBeenCalledTimes(1);
      expect(wechat.apiCalls.at(-1)!.token).toBe(fresh);
    });

    it('does not accept the refused token from a load that read Redis before the drop', async () => {
      const { api, wechat, redis } = setup();
      await api.post(PHONE_API, {});
      const fresh = wechat.rotate();
      const gate = () => {
        let open!: () => void;
        return { wait: new Promise<void>((resolve) => (open = resolve)), open: () => open() };
      };
      const dropGate = gate();
      const readGate = gate();
      const realEval = redis.eval.bind(redis);
      const realGet = redis.get.bind(redis);
      const evalSpy = vi.spyOn(redis, 'eval').mockImplementationOnce(async (...args) => {
        await dropGate.wait;
        return realEval(...args);
      });
      const getSpy = vi.spyOn(redis, 'get').mockImplementationOnce(async (key) => {
        const value = await realGet(key); // read now, answer late
        await readGate.wait;
        return value;
      });

      // R is refused and is dropping the dead token; meanwhile N, finding no token in memory,
      // loads one and reads the dead token from Redis before R's drop lands.
      const r = api.post(PHONE_API, { who: 'R' });
      await vi.waitFor(() => expect(evalSpy).toHaveBeenCalled());
      const n = api.post(PHONE_API, { who: 'N' });
      await vi.waitFor(() => expect(getSpy).toHaveBeenCalled());
      dropGate.open();
      await new Promise((resolve) => setImmediate(resolve));
      readGate.open();

      await expect(Promise.all([r, n])).resolves.toMatchObject([{ errcode: 0 }, { errcode: 0 }]);
      const retries = wechat.apiCalls.filter((c) => c.token === fresh).map((c) => (c.body as { who: string }).who);
      expect(retries.sort()).toEqual(['N', 'R']);
      expect(wechat.stableCalls).toHaveLength(2);
    });

    it('keeps callers that arrive during a refresh off the refused token', async () => {
      const { api, wechat } = setup();
      await api.post(PHONE_API, {});
      const dead = wechat.current;
      wechat.rotate();
      let answer!: () => void;
      wechat.stableAnswers.push(async () => {
        await new Promise<void>((resolve) => (answer = resolve));
        return json({ access_token: wechat.current, expires_in: 7200 });
      });
      const r = api.post(PHONE_API, { who: 'R' });
      await vi.waitFor(() => expect(wechat.stableCalls).toHaveLength(2));
      const n = api.post(PHONE_API, { who: 'N' });
      await new Promise((resolve) => setImmediate(resolve));
      answer();
      await expect(Promise.all([r, n])).resolves.toMatchObject([{ errcode: 0 }, { errcode: 0 }]);
      const who = (c: { body: unknown }) => (c.body as { who?: string }).who;
      expect(wechat.apiCalls.filter((c) => c.token === dead && who(c)).map(who)).toEqual(['R']);
      expect(wechat.stableCalls).toHaveLength(2);
    });

    it('shares one refresh among concurrent callers refused at once', async () => {
      const { api, wechat } = setup();
      await api.post(PHONE_API, {});
      wechat.rotate();
      const answers = await Promise.all(Array.from({ length: 10 }, () => api.post(PHONE_API, {})));
      expect(answers.every((a) => a.errcode === 0)).toBe(true);
      expect(wechat.stableCalls).toHaveLength(2);
    });
  });

  describe('busy (-1)', () => {
    const busy = () => json({ errcode: -1, errmsg: 'system error, rid: 3' });

    it('retries a busy API with jittered backoff and succeeds when WeChat recovers', async () => {
      const { api, wechat } = setup();
      wechat.apiAnswers.push(busy, busy);
      await expect(api.post(PHONE_API, {})).resolves.toMatchObject({ errcode: 0 });
      expect(wechat.apiCalls).toHaveLength(3);
      expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([100, 300]);
    });

    it('retries a busy stable_token the same way', async () => {
      const { api, wechat } = setup();
      wechat.stableAnswers.push(busy);
      await expect(api.post(PHONE_API, {})).resolves.toMatchObject({ errcode: 0 });
      expect(wechat.stableCalls).toHaveLength(2);
    });

    it('answers WECHAT_UNAVAILABLE when WeChat stays busy after two retries', async () => {
      const { api, wechat } = setup();
      wechat.apiAnswers.push(busy, busy, busy);
      const err = await failure(api.post(PHONE_API, {}));
      expect(err.code).toBe('WECHAT_UNAVAILABLE');
      expect(err.details).toMatchObject({ api: PHONE_API, reason: 'busy after retries' });
      expect(wechat.apiCalls).toHaveLength(3);
    });

    it('does not retry when the backoff would pass the deadline', async () => {
      const { wechat, redis } = setup();
      const { api } = container(wechat, redis, { deadlineMs: 150, busyBackoffMs: [1000] });
      wechat.stableAnswers.push(busy);
      expect((await failure(api.post(PHONE_API, {}))).details).toMatchObject({ api: 'stable_token', reason: 'busy, no time left to retry' });
      expect(wechat.stableCalls).toHaveLength(1);
    });

    it('spends one deadline on the token and the call: the call gets what is left', async () => {
      const { wechat, redis } = setup();
      const { api } = container(wechat, redis, { timeoutMs: 3000, deadlineMs: 3500 });
      wechat.stableAnswers.push(() => {
        clock += 1000; // a slow stable_token
        return json({ access_token: wechat.current, expires_in: 7200 });
      });
      await api.post(PHONE_API, {});
      expect(wechat.stableCalls[0]!.timeoutMs).toBe(3000);
      expect(wechat.apiCalls[0]!.timeoutMs).toBe(2500);
    });
  });

  describe('failures', () => {
    it.each([
      [40013, 'invalid appid', 'WECHAT_APPID'],
      [40125, 'invalid appsecret, view more at http://t.cn/RAEkdVq', 'WECHAT_SECRET'],
      [40164, 'invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist', 'whitelist'],
      [45009, 'reach max api daily quota limit', 'daily quota'],
      [40002, 'invalid grant_type', 'console'],
      [99999, 'something new', 'console'],
    ])('maps stable_token errcode %i to WECHAT_ERROR, saying what the operator must do', async (errcode, errmsg, action) => {
      const { api, wechat } = setup();
      wechat.stableAnswers.push(() => json({ errcode, errmsg: `${errmsg}, rid: 4` }));
      const err = await failure(api.post(PHONE_API, {}));
      expect({ code: err.code, status: err.status }).toEqual({ code: 'WECHAT_ERROR', status: 502 });
      expect(err.details).toMatchObject({ api: 'stable_token', errcode, errmsg: `${errmsg}, rid: 4`, action: expect.stringContaining(action) });
      expect(wechat.apiCalls).toHaveLength(0);
    });

    const timeout = () => Promise.reject(Object.assign(new Error('no answer within 3000 ms'), { name: 'TimeoutError' }));
    const refused = (url: string) => Promise.reject(Object.assign(new Error(`connect ECONNREFUSED ${url}`), { code: 'ECONNREFUSED' }));

    it.each([
      ['a timeout', timeout, 'timeout'],
      ['a refused connection', () => refused('https://api.weixin.qq.com/cgi-bin/stable_token'), 'network error'],
      ['HTTP 502', () => json('<html>502</html>', 502), 'http status'],
      ['an HTML page', () => ({ status: 200, body: '<html>busy</html>' }), 'unparseable reply'],
      ['an answer without access_token', () => json({ expires_in: 7200 }), 'reply without access_token or expires_in'],
      ['an answer without expires_in', () => json({ access_token: 'abc' }), 'reply without access_token or expires_in'],
      ['a token with spaces', () => json({ access_token: 'a b', expires_in: 7200 }), 'reply without access_token or expires_in'],
    ])('maps %s from stable_token to WECHAT_UNAVAILABLE', async (_name, answer, reason) => {
      const { api, wechat } = setup();
      wechat.stableAnswers.push(answer);
      const err = await failure(api.post(PHONE_API, {}));
      expect({ code: err.code, status: err.status }).toEqual({ code: 'WECHAT_UNAVAILABLE', status: 503 });
      expect(err.details).toMatchObject({ api: 'stable_token', reason });
    });

    it.each([
      ['a timeout', timeout, 'timeout'],
      ['a refused connection', () => refused(`https://api.weixin.qq.com${PHONE_API}?access_token=…`), 'network error'],
      ['HTTP 500', () => json({}, 500), 'http status'],
      ['an empty body', () => ({ status: 200, body: '' }), 'unparseable reply'],
      ['a JSON array', () => json([]), 'unparseable reply'],
    ])('maps %s from the API to WECHAT_UNAVAILABLE, without a retry', async (_name, answer, reason) => {
      const { api, wechat } = setup();
      wechat.apiAnswers.push(answer);
      const err = await failure(api.post(PHONE_API, {}));
      expect(err.code).toBe('WECHAT_UNAVAILABLE');
      expect(err.details).toMatchObject({ api: PHONE_API, reason });
      expect(wechat.apiCalls).toHaveLength(1);
    });

    it('puts neither the AppSecret nor the token nor the URL in any error, even when WeChat or the network quotes them', async () => {
      const leaks: ((token: string | null) => HttpAnswer | Promise<HttpAnswer>)[] = [
        () => timeout(),
        (token) => refused(`https://api.weixin.qq.com${PHONE_API}?access_token=${token}`),
        (token) => json({ errcode: 40001, errmsg: `invalid credential ${token} secret ${SECRET}` }),
        (token) => json(`<html>${token}</html>`, 500),
        (token) => ({ status: 200, body: `<html>${token} ${SECRET}</html>` }),
      ];
      const stableLeaks: (() => HttpAnswer | Promise<HttpAnswer>)[] = [
        () => json({ errcode: 40125, errmsg: `invalid appsecret ${SECRET}` }),
        () => refused(`https://api.weixin.qq.com/cgi-bin/stable_token body ${SECRET}`),
        () => json({ access_token: `has space ${SECRET}`, expires_in: 7200 }),
      ];
      const errors: AppError[] = [];
      for (const leak of leaks) {
        const { api, wechat } = setup();
        wechat.apiAnswers.push(leak, leak);
        errors.push(await failure(api.post(PHONE_API, {})));
        const all = wechat.issued.join('\n');
        for (const err of errors.slice(-1)) for (const token of all.split('\n')) expect(visible(err)).not.toContain(token);
      }
      for (const leak of stableLeaks) {
        const { api, wechat } = setup();
        wechat.stableAnswers.push(leak);
        errors.push(await failure(api.post(PHONE_API, {})));
      }
      for (const err of errors) {
        expect(visible(err)).not.toContain(SECRET);
        expect(visible(err)).not.toContain('access_token=');
        expect(visible(err)).not.toContain('api.weixin.qq.com');
      }
    });

    it('never returns the token in an answer it hands back, even if WeChat quotes it', async () => {
      const { api, wechat } = setup();
      wechat.apiAnswers.push((token) => json({ errcode: 40029, errmsg: `invalid code for ${token}` }));
      const answer = await api.post(PHONE_API, {});
      expect(JSON.stringify(answer)).not.toContain(wechat.current);
    });
  });

  describe('Redis down', () => {
    it('falls back to stable_token when Redis cannot be read, and keeps going when it cannot be written (warn, no secret)', async () => {
      const { api, wechat, redis, warn } = setup();
      redis.down = true;
      await expect(api.post(PHONE_API, {})).resolves.toMatchObject({ errcode: 0 });
      expect(wechat.stableCalls).toHaveLength(1);
      expect(warn.mock.calls.map(([message]) => message)).toEqual([
        'access token cache unreadable: asking WeChat',
        'access token cache unwritable: the token stays in this container only',
      ]);
      expect(warn.mock.calls[0]![1]).toEqual({ cause: 'Error ECONNREFUSED' });
      // The container still keeps its own copy.
      await api.post(PHONE_API, {});
      expect(wechat.stableCalls).toHaveLength(1);
      expect(JSON.stringify(warn.mock.calls)).not.toContain(wechat.current);
    });

    it('refreshes a refused token while Redis is down', async () => {
      const { api, wechat, redis, warn } = setup();
      await api.post(PHONE_API, {});
      redis.down = true;
      const fresh = wechat.rotate();
      await expect(api.post(PHONE_API, {})).resolves.toMatchObject({ errcode: 0 });
      expect(wechat.apiCalls.at(-1)!.token).toBe(fresh);
      expect(warn).toHaveBeenCalledWith('access token cache: could not drop a refused token', expect.anything());
    });
  });
});
