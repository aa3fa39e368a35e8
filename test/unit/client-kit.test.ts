import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { WxLike } from '../../client/wechat-auth';

const { createAuth } = createRequire(import.meta.url)('../../client/wechat-auth.js') as typeof import('../../client/wechat-auth');

/**
 * The client kit's rules, against a scripted `wx` (no network): which URLs get the token,
 * which answers are retried for which method, when the token is dropped, and the login proof.
 * test/integration/client-kit.test.ts runs the same kit against `npm run dev`.
 */
const BASE = 'https://api.example.com';
const TOKEN = 'T'.repeat(43);

interface Sent {
  url: string;
  method: string;
  header: Record<string, string>;
  data: unknown;
}
/** An answer, or `'lost'`: wx.request fails (a timeout, the network gone), whatever the server did. */
type Reply = { statusCode: number; data?: unknown; header?: Record<string, string> } | 'lost';

const ours = (code: string) => ({ error: { code, message: `${code} message` } });
const gateway = (message: string) => ({ message });
const loggedIn = (token = TOKEN): Reply => ({ statusCode: 200, data: { token, expiresIn: 600, userId: 'u1', isNewUser: false } });

/** A wx whose requests are answered by `route`, synchronously recorded, asynchronously answered. */
function scriptedWx(route: (sent: Sent, index: number) => Reply, options: { randomBytes?: (length: number) => Uint8Array | 'fail' | 'missing' } = {}) {
  const sent: Sent[] = [];
  const storage = new Map<string, unknown>();
  const calls = { login: 0, randomValues: 0 };
  const randomBytes = options.randomBytes ?? ((length: number) => globalThis.crypto.getRandomValues(new Uint8Array(length)));
  const wx: WxLike = {
    login({ success }) {
      calls.login++;
      setTimeout(() => success({ code: `code-${calls.login}` }), 0);
    },
    request(o) {
      const entry = { url: o.url, method: o.method ?? 'GET', header: { ...(o.header ?? {}) }, data: o.data };
      sent.push(entry);
      const reply = route(entry, sent.length - 1);
      if (reply === 'lost') return void setTimeout(() => o.fail?.({ errMsg: 'request:fail timeout' }), 0);
      setTimeout(() => o.success({ statusCode: reply.statusCode, data: reply.data ?? '', header: reply.header ?? {} }), 0);
    },
    uploadFile(o) {
      const entry = { url: o.url, method: 'POST', header: { ...(o.header ?? {}) }, data: { filePath: o.filePath, name: o.name } };
      sent.push(entry);
      const reply = route(entry, sent.length - 1);
      if (reply === 'lost') return void setTimeout(() => o.fail?.({ errMsg: 'uploadFile:fail timeout' }), 0);
      // wx.uploadFile hands the body back as a string, and no headers.
      setTimeout(() => o.success({ statusCode: reply.statusCode, data: typeof reply.data === 'string' ? reply.data : JSON.stringify(reply.data ?? '') }), 0);
    },
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => void storage.set(key, structuredClone(value)),
    removeStorageSync: (key) => void storage.delete(key),
  };
  if (randomBytes(0) !== 'missing') {
    wx.getRandomValues = ({ length, success, fail }) => {
      calls.randomValues++;
      const bytes = randomBytes(length);
      setTimeout(() => (bytes === 'fail' ? fail?.({ errMsg: 'getRandomValues:fail' }) : success({ randomValues: (bytes as Uint8Array).slice().buffer })), 0);
    };
  }
  const logins = () => sent.filter((s) => s.url.endsWith('/user/wechatlogin'));
  return { wx, sent, storage, calls, logins };
}

/** Answers logins; every other request gets `other(sent, n)` where n counts those requests. */
function api(other: (sent: Sent, n: number) => Reply) {
  let n = 0;
  return (s: Sent): Reply => (s.url.endsWith('/user/wechatlogin') ? loggedIn() : other(s, n++));
}

function kit(wx: WxLike, waits: number[] = [], extra: Record<string, unknown> = {}) {
  return createAuth({ baseUrl: BASE, wx, sleep: async (ms) => void waits.push(ms), ...extra });
}

describe('Function: createAuth', () => {
  it.each(['https://api.example.com', 'https://api.example.com/prod/', 'http://localhost:3000', 'http://127.0.0.1', 'HTTP://LOCALHOST:9'])('accepts %s', (baseUrl) => {
    expect(() => createAuth({ baseUrl, wx: scriptedWx(() => loggedIn()).wx })).not.toThrow();
  });

  // A real phone in 真机调试 reaches `HOST=0.0.0.0 npm run dev` at the computer's LAN address.
  it.each([
    'http://127.0.0.2:3000',
    'http://127.255.255.255',
    'http://10.0.0.1:3000',
    'http://10.255.255.254',
    'http://172.16.0.1:3000',
    'http://172.31.255.254',
    'http://192.168.1.23:3000',
    'http://192.168.0.1',
    'http://169.254.10.20:3000',
    'http://[::1]:3000',
    'http://[fd12:3456:789a::1]:3000',
    'http://[FC00::1]',
  ])('accepts plain HTTP to a private-network address, for development: %s', (baseUrl) => {
    expect(() => createAuth({ baseUrl, wx: scriptedWx(() => loggedIn()).wx })).not.toThrow();
  });

  it.each([
    ['a public IPv4 address', 'http://8.8.8.8:3000'],
    ['just below 172.16/12', 'http://172.15.255.255'],
    ['just above 172.16/12', 'http://172.32.0.1'],
    ['192.169.x, not 192.168.x', 'http://192.169.1.1'],
    ['11.x, not 10.x', 'http://11.0.0.1'],
    ['169.253.x, not link-local', 'http://169.253.1.1'],
    ['a part above 255', 'http://192.168.1.256'],
    ['a leading zero (octal to some parsers: 010 is 8)', 'http://010.0.0.1'],
    ['three parts', 'http://10.0.1'],
    ['a hex part', 'http://0x7f.0.0.1'],
    ['a single number (2130706433 is 127.0.0.1 to some parsers)', 'http://2130706433'],
    ['a name that starts like a private address', 'http://192.168.1.2.evil.com'],
    ['a name that starts like one, with a dash', 'http://10.0.0.1-evil.com'],
    ['a trailing dot', 'http://192.168.1.2.'],
    ['a public IPv6 address', 'http://[2001:db8::1]'],
    ['IPv6 fc/8 written short (00fc::, not fc00::/7)', 'http://[fc::1]'],
    ['an IPv4-mapped IPv6 address', 'http://[::ffff:192.168.1.2]'],
    ['a .local name (mDNS: resolved by whoever answers)', 'http://my-laptop.local:3000'],
  ])('refuses plain HTTP to %s: https only', (_name, baseUrl) => {
    expect(() => createAuth({ baseUrl, wx: scriptedWx(() => loggedIn()).wx })).toThrow(/must use https:\/\//);
  });

  it.each([
    ['plain HTTP to a real host', 'http://api.example.com', /https/],
    ['plain HTTP to a host that starts with localhost', 'http://localhost.evil.com', /https/],
    ['another scheme', 'ftp://api.example.com', /http\(s\) URL/],
    ['credentials', 'https://user:pass@api.example.com', /without credentials/],
    ['a query', 'https://api.example.com/?stage=prod', /query/],
    ['no scheme', '//api.example.com', /http\(s\) URL/],
    ['a relative path', '/user', /http\(s\) URL/],
  ])('refuses %s with a clear error', (_name, baseUrl, message) => {
    expect(() => createAuth({ baseUrl, wx: scriptedWx(() => loggedIn()).wx })).toThrow(message);
  });

  it('refuses a login or logout path on another origin: the code and the token go to baseUrl only', () => {
    const { wx } = scriptedWx(() => loggedIn());
    expect(() => createAuth({ baseUrl: BASE, wx, loginPath: 'https://evil.com/login' })).toThrow(/loginPath/);
    expect(() => createAuth({ baseUrl: BASE, wx, logoutPath: '//evil.com/logout' })).toThrow(/logoutPath/);
  });

  it.each(['phonePath', 'avatarPath', 'profilePath', 'sessionsPath', 'opendataPath'])('refuses a %s on another origin: a phone code, a profile or a token goes to baseUrl only', (name) => {
    const { wx } = scriptedWx(() => loggedIn());
    expect(() => createAuth({ baseUrl: BASE, wx, [name]: 'https://evil.example/steal' })).toThrow(new RegExp(name));
    expect(() => createAuth({ baseUrl: BASE, wx, [name]: '/custom/path' })).not.toThrow();
  });
});

describe('Method: request — where the token goes', () => {
  it.each([
    ['/user/me', 'https://api.example.com/user/me'],
    ['user/me', 'https://api.example.com/user/me'],
    ['https://api.example.com/user/me', 'https://api.example.com/user/me'],
    ['HTTPS://API.EXAMPLE.COM:443/user/me', 'HTTPS://API.EXAMPLE.COM:443/user/me'],
    ['//api.example.com/user/me', 'https://api.example.com/user/me'],
    ['/\\evil.com/x', 'https://api.example.com/\\evil.com/x'],
  ])('sends it with %s (to %s)', async (url, expected) => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: 200 })));
    await kit(wx).request({ url });
    const request = sent.at(-1)!;
    expect(request.url).toBe(expected);
    expect(new URL(request.url).origin).toBe(BASE);
    expect(request.header.Authorization).toBe(`Bearer ${TOKEN}`);
  });

  it.each([
    'https://api.example.com.evil.com/user/me',
    '//evil.com/user/me',
    'https://api.example.com@evil.com/user/me',
    'https://user:pass@api.example.com/user/me',
    'https://api.example.com\\@evil.com/user/me',
    'https://api.example.com%2Eevil.com/',
    'http://api.example.com/user/me',
    'https://api.example.com:8443/user/me',
    'https://evil.com/?next=https://api.example.com',
    'https://evil.com#@api.example.com',
    'https:evil.com/user/me',
    'wss://api.example.com/socket',
  ])('sends %s out without it, without logging in, and ignores its 401', async (url) => {
    const { wx, sent, calls, storage } = scriptedWx(() => ({ statusCode: 401, data: gateway('Unauthorized') }));
    storage.set('wechat-auth', { token: TOKEN, userId: 'u1', ttlMs: 600_000, expiresAt: Date.now() + 600_000 });
    const response = await kit(wx).request({ url, header: { 'x-trace': '1' } });

    expect(response.statusCode).toBe(401);
    expect(sent).toHaveLength(1);
    expect(Object.keys(sent[0]!.header).map((h) => h.toLowerCase())).not.toContain('authorization');
    expect(sent[0]!.header['x-trace']).toBe('1');
    expect(calls.login).toBe(0);
    expect((storage.get('wechat-auth') as { token: string }).token).toBe(TOKEN);
  });

  it('replaces an Authorization header the caller set, in any case, on its own origin', async () => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: 200 })));
    await kit(wx).request({ url: '/user/me', header: { authorization: 'Bearer someone-else' } });
    expect(sent.at(-1)!.header).toEqual({ Authorization: `Bearer ${TOKEN}` });
  });

  it('never sends the token where a URL parser would not take it to baseUrl’s origin (fuzzed)', async () => {
    const piece = fc.constantFrom(
      'https:', 'http:', 'HTTPS:', '//', '/', '\\', '@', ':', '.', '#', '?', '%2E', ' ', '\t',
      'api.example.com', 'API.example.COM', 'evil.com', 'user:pass', '443', '8443', 'user', 'me',
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 8 }), async (pieces) => {
        const url = pieces.join('');
        const { wx, sent } = scriptedWx(api(() => ({ statusCode: 200 })));
        await kit(wx).request({ url });
        for (const request of sent) {
          if (request.header.Authorization) expect(new URL(request.url).origin).toBe(BASE);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('Method: request — what drops the token', () => {
  it.each([
    [401, gateway('Unauthorized')],
    [403, gateway('Forbidden')],
    [403, ''],
  ])('drops it on the authorizer’s %i without our error body, logs in again once and repeats the request', async (status, data) => {
    const tokens = ['A'.repeat(43), 'B'.repeat(43)];
    let login = 0;
    let n = 0;
    const { wx, calls, sent } = scriptedWx((s) => (s.url.endsWith('/user/wechatlogin') ? loggedIn(tokens[login++]) : n++ === 0 ? { statusCode: status, data } : { statusCode: 200 }));
    const auth = kit(wx);
    const response = await auth.request({ url: '/user/me' });
    expect(response.statusCode).toBe(200);
    expect(calls.login).toBe(2);
    expect(sent.filter((s) => s.url.endsWith('/user/me')).map((s) => s.header.Authorization)).toEqual([`Bearer ${tokens[0]}`, `Bearer ${tokens[1]}`]);
    expect(auth.getToken()).toBe(tokens[1]);
  });

  it.each([
    [401, 'UNAUTHORIZED'],
    [403, 'USER_BLOCKED'],
  ])('hands a route’s own %i (our error body, %s) back with the token kept', async (status, code) => {
    const { wx, calls } = scriptedWx(api(() => ({ statusCode: status, data: ours(code) })));
    const auth = kit(wx);
    const response = await auth.request({ url: '/user/me' });
    expect(response).toMatchObject({ statusCode: status, data: ours(code) });
    expect(calls.login).toBe(1);
    expect(auth.getToken()).toBe(TOKEN);
  });

  it('reads our error body from a JSON string as well (dataType other than json)', async () => {
    const { wx, calls } = scriptedWx(api(() => ({ statusCode: 401, data: JSON.stringify(ours('UNAUTHORIZED')) })));
    const auth = kit(wx);
    expect((await auth.request({ url: '/user/me' })).statusCode).toBe(401);
    expect(calls.login).toBe(1);
  });
});

describe('Method: request — what is retried', () => {
  // status, body, method, retried?
  const table: [number, 'ours' | 'gateway', string, boolean][] = [
    [409, 'ours', 'POST', true],
    [429, 'ours', 'POST', true],
    [503, 'ours', 'POST', true],
    [503, 'ours', 'DELETE', true],
    [500, 'gateway', 'POST', true],
    [500, 'gateway', 'PUT', true],
    [500, 'gateway', 'GET', true],
    [409, 'gateway', 'POST', false],
    [429, 'gateway', 'POST', true], // the stage's throttling: the route never ran
    [503, 'gateway', 'POST', false],
    [500, 'ours', 'POST', false],
    [502, 'gateway', 'POST', false],
    [504, 'gateway', 'PATCH', false],
    [503, 'gateway', 'GET', true],
    [500, 'ours', 'GET', true],
    [502, 'gateway', 'GET', true],
    [504, 'gateway', 'HEAD', true],
    [400, 'ours', 'GET', false],
    [404, 'ours', 'GET', false],
    [409, 'gateway', 'GET', false],
  ];
  it.each(table)('%i with %s body on %s: retried %s', async (status, body, method, retried) => {
    const data = body === 'ours' ? ours('SOME_CODE') : gateway('Internal Server Error');
    const { wx, sent } = scriptedWx(api((_s, n) => (n === 0 ? { statusCode: status, data } : { statusCode: 200 })));
    const response = await kit(wx).request({ url: '/user/thing', method: method as 'GET' });
    const attempts = sent.filter((s) => s.url.endsWith('/user/thing'));
    expect(attempts).toHaveLength(retried ? 2 : 1);
    expect(response.statusCode).toBe(retried ? 200 : status);
    // The same request each time, token included.
    expect(new Set(attempts.map((a) => JSON.stringify(a)))).toHaveProperty('size', 1);
  });

  it('gives up after maxRetries and hands back the last answer, token kept', async () => {
    const waits: number[] = [];
    const { wx, sent, calls } = scriptedWx(api(() => ({ statusCode: 500, data: gateway('Internal Server Error') })));
    const auth = kit(wx, waits, { maxRetries: 2 });
    const response = await auth.request({ url: '/user/me' });
    expect(response.statusCode).toBe(500);
    expect(sent.filter((s) => s.url.endsWith('/user/me'))).toHaveLength(3);
    expect(waits).toHaveLength(2);
    expect(calls.login).toBe(1);
    expect(auth.getToken()).toBe(TOKEN);
  });

  it('waits a short jittered backoff on Retry-After: 0 or none, growing, never zero', async () => {
    const waits: number[] = [];
    const headers: Record<string, string>[] = [{ 'Retry-After': '0' }, {}, { 'retry-after': '0' }];
    const { wx } = scriptedWx(api((_s, n) => (n < 3 ? { statusCode: 503, data: ours('SERVICE_UNAVAILABLE'), header: headers[n] } : { statusCode: 200 })));
    expect((await kit(wx, waits, { baseDelayMs: 300 }).request({ url: '/user/me' })).statusCode).toBe(200);
    expect(waits).toHaveLength(3);
    waits.forEach((ms, attempt) => {
      const step = 300 * 2 ** attempt;
      expect(ms).toBeGreaterThanOrEqual(step / 2);
      expect(ms).toBeLessThanOrEqual(step);
    });
  });

  it('waits as long as Retry-After asks, and not at all when that is past maxDelayMs', async () => {
    const waits: number[] = [];
    const { wx } = scriptedWx(
      api((_s, n) => (n === 0 ? { statusCode: 429, data: ours('RATE_LIMITED'), header: { 'Retry-After': '2' } } : n === 2 ? { statusCode: 503, data: ours('SERVICE_UNAVAILABLE'), header: { 'Retry-After': '9' } } : { statusCode: 200 })),
    );
    const auth = kit(wx, waits, { maxDelayMs: 8000 });
    expect((await auth.request({ url: '/user/me' })).statusCode).toBe(200);
    expect((await auth.request({ url: '/user/me' })).statusCode).toBe(503);
    expect(waits).toEqual([2000]);
  });
});

describe('ACCOUNT_SUSPENDED', () => {
  const suspendedAnswer = (until?: string): Reply => ({ statusCode: 403, data: { error: { code: 'ACCOUNT_SUSPENDED', message: 'This account is suspended.', ...(until ? { until } : {}) } } });

  it('is surfaced once: later requests reject at once without wx.login until the end time passes, then log in again', async () => {
    let clock = Date.parse('2027-01-01T00:00:00Z');
    const until = '2027-01-01T01:00:00.000Z';
    let suspendedNow = true;
    const { wx, calls } = scriptedWx((sent) => (sent.url.endsWith('/user/wechatlogin') ? (suspendedNow ? suspendedAnswer(until) : loggedIn()) : { statusCode: 200, data: { ok: true } }));
    const auth = createAuth({ baseUrl: BASE, wx, now: () => clock, sleep: async () => {} });
    await expect(auth.request({ url: '/user/me' })).rejects.toMatchObject({ code: 'ACCOUNT_SUSPENDED', until });
    await expect(auth.request({ url: '/user/me' })).rejects.toMatchObject({ code: 'ACCOUNT_SUSPENDED', until, statusCode: 0 });
    expect(calls.login).toBe(1);
    // Its end time passed: the next request logs in.
    clock = Date.parse(until) + 1;
    suspendedNow = false;
    await expect(auth.request({ url: '/user/me' })).resolves.toMatchObject({ statusCode: 200 });
    expect(calls.login).toBe(2);
  });

  it('is tried again when login() is called, as after an operator lifted it', async () => {
    let suspendedNow = true;
    const { wx, calls } = scriptedWx((sent) => (sent.url.endsWith('/user/wechatlogin') ? (suspendedNow ? suspendedAnswer() : loggedIn()) : { statusCode: 200, data: {} }));
    const auth = createAuth({ baseUrl: BASE, wx, sleep: async () => {} });
    await expect(auth.request({ url: '/user/me' })).rejects.toMatchObject({ code: 'ACCOUNT_SUSPENDED' });
    await expect(auth.request({ url: '/user/me' })).rejects.toMatchObject({ code: 'ACCOUNT_SUSPENDED' });
    expect(calls.login).toBe(1);
    suspendedNow = false;
    await expect(auth.login()).resolves.toMatchObject({ token: expect.any(String) });
    expect(calls.login).toBe(2);
  });
});

describe('Method: login — the AppID it names', () => {
  const bodyOf = async (setup: (wx: WxLike) => void, options: { appid?: string | false } = {}) => {
    const { wx, sent } = scriptedWx(() => loggedIn());
    setup(wx);
    await createAuth({ baseUrl: BASE, wx, ...options }).login();
    return sent[0]!.data;
  };

  it('names the mini-program’s own AppID, from wx.getAccountInfoSync()', async () => {
    expect(await bodyOf((wx) => (wx.getAccountInfoSync = () => ({ miniProgram: { appId: 'wx1111111111111111' } })))).toEqual({ code: 'code-1', appid: 'wx1111111111111111' });
  });

  it.each([
    ['DevTools’ project without an AppID (touristappid)', (wx: WxLike) => (wx.getAccountInfoSync = () => ({ miniProgram: { appId: 'touristappid' } }))],
    ['a base library without getAccountInfoSync', () => {}],
    ['a getAccountInfoSync that throws', (wx: WxLike) => (wx.getAccountInfoSync = () => { throw new Error('not supported'); })],
  ])('names none for %s: the server’s default app', async (_name, setup) => {
    expect(await bodyOf(setup)).toEqual({ code: 'code-1' });
  });

  it('names the one given, or none with appid: false, whatever the account info says', async () => {
    const own = (wx: WxLike) => (wx.getAccountInfoSync = () => ({ miniProgram: { appId: 'wx1111111111111111' } }));
    expect(await bodyOf(own, { appid: 'wx2222222222222222' })).toEqual({ code: 'code-1', appid: 'wx2222222222222222' });
    expect(await bodyOf(own, { appid: false })).toEqual({ code: 'code-1' });
  });
});

describe('Method: login — X-Login-Proof', () => {
  const PROOF = /^[A-Za-z0-9_-]{43}$/;

  it('sends a proof made from wx.getRandomValues’ 32 bytes, base64url-encoded', async () => {
    const drawn: Uint8Array[] = [];
    const { wx, logins, calls } = scriptedWx(() => loggedIn(), {
      randomBytes: (length) => {
        const bytes = globalThis.crypto.getRandomValues(new Uint8Array(length));
        if (length > 0) drawn.push(bytes);
        return bytes;
      },
    });
    await kit(wx).login();
    expect(calls.randomValues).toBe(1);
    expect(drawn[0]).toHaveLength(32);
    expect(logins()[0]!.header['X-Login-Proof']).toBe(Buffer.from(drawn[0]!).toString('base64url'));
    expect(logins()[0]!.header['X-Login-Proof']).toMatch(PROOF);
  });

  it('sends the same proof on every retry of one code’s POST', async () => {
    const answers: Reply[] = [
      { statusCode: 503, data: ours('WECHAT_UNAVAILABLE') },
      { statusCode: 409, data: ours('LOGIN_IN_PROGRESS'), header: { 'Retry-After': '1' } },
      { statusCode: 500, data: gateway('Internal Server Error') },
      loggedIn(),
    ];
    const { wx, logins, calls } = scriptedWx((_s, i) => answers[i]!);
    await kit(wx).login();
    expect(logins()).toHaveLength(4);
    expect(new Set(logins().map((l) => l.header['X-Login-Proof'])).size).toBe(1);
    expect(new Set(logins().map((l) => JSON.stringify(l.data))).size).toBe(1);
    expect(calls.login).toBe(1);
  });

  it('does not repeat a login POST on a 502 or a 503 without our error body', async () => {
    for (const answer of [{ statusCode: 502, data: gateway('Bad Gateway') }, { statusCode: 503, data: gateway('Service Unavailable') }]) {
      const { wx, logins } = scriptedWx(() => answer);
      await expect(kit(wx).login()).rejects.toMatchObject({ name: 'AuthError', statusCode: answer.statusCode });
      expect(logins()).toHaveLength(1);
    }
  });

  it('makes a fresh proof for the fresh code after INVALID_CODE', async () => {
    const { wx, logins, calls } = scriptedWx((_s, i) => (i === 0 ? { statusCode: 401, data: ours('INVALID_CODE') } : loggedIn()));
    await kit(wx).login();
    expect(calls.login).toBe(2);
    expect(logins().map((l) => (l.data as { code: string }).code)).toEqual(['code-1', 'code-2']);
    const [first, second] = logins().map((l) => l.header['X-Login-Proof']);
    expect(first).toMatch(PROOF);
    expect(second).toMatch(PROOF);
    expect(second).not.toBe(first);
    expect(calls.randomValues).toBe(2);
  });

  it('shares one code and one proof among concurrent callers', async () => {
    const { wx, logins, calls } = scriptedWx(() => loggedIn());
    const auth = kit(wx);
    await Promise.all([auth.login(), auth.login(), auth.request({ url: '/user/me' })]);
    expect(calls.login).toBe(1);
    expect(logins()).toHaveLength(1);
  });

  it.each([
    ['a base library without wx.getRandomValues', 'missing' as const],
    ['wx.getRandomValues failing', 'fail' as const],
  ])('still sends a fresh 43-character proof with %s', async (_name, mode) => {
    const { wx, logins } = scriptedWx((_s, i) => (i === 0 ? { statusCode: 401, data: ours('INVALID_CODE') } : loggedIn()), { randomBytes: () => mode });
    await kit(wx).login();
    const proofs = logins().map((l) => l.header['X-Login-Proof']);
    expect(proofs).toHaveLength(2);
    for (const proof of proofs) expect(proof).toMatch(PROOF);
    expect(proofs[1]).not.toBe(proofs[0]);
  });
});

describe('A session-store outage', () => {
  it('keeps the token through a run of 500s from the gateway, with no extra wx.login', async () => {
    // /user/me answers 500 (the authorizer threw) for its first 10 requests, then 200.
    const { wx, calls, sent } = scriptedWx(api((_s, n) => (n < 10 ? { statusCode: 500, data: gateway('Internal Server Error') } : { statusCode: 200 })));
    const auth = kit(wx);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await auth.request({ url: '/user/me' })).statusCode);
    expect(statuses).toEqual([500, 500, 200, 200]);
    expect(calls.login).toBe(1);
    expect(auth.getToken()).toBe(TOKEN);
    expect(new Set(sent.filter((s) => s.url.endsWith('/user/me')).map((s) => s.header.Authorization))).toEqual(new Set([`Bearer ${TOKEN}`]));
  });
});

describe('Method: bindPhone', () => {
  const number = { countryCode: '86', purePhoneNumber: '13800138000', phoneNumber: '13800138000' };

  it('posts e.detail.code to /user/phone, signed in, and resolves with the number', async () => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: 200, data: number })));
    await expect(kit(wx).bindPhone('phone-code-1')).resolves.toEqual(number);
    const post = sent.find((s) => s.url === `${BASE}/user/phone`)!;
    expect(post).toMatchObject({ method: 'POST', data: { code: 'phone-code-1' }, header: { Authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
  });

  it.each([undefined, ''])('rejects NO_PHONE_CODE without a request when there is no code (%j: the user refused, or errno 1400001)', async (code) => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: 200, data: number })));
    await expect(kit(wx).bindPhone(code as unknown as string)).rejects.toMatchObject({ name: 'AuthError', code: 'NO_PHONE_CODE', statusCode: 0 });
    expect(sent).toHaveLength(0);
  });

  it.each([
    [400, 'INVALID_PHONE_CODE'],
    [409, 'PHONE_IN_USE'],
    [502, 'WECHAT_ERROR'],
  ])('rejects %i %s with the server’s code, after one request: waiting would not change it', async (status, code) => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: status, data: ours(code) })));
    await expect(kit(wx).bindPhone('c')).rejects.toMatchObject({ name: 'AuthError', statusCode: status, code });
    expect(sent.filter((s) => s.url.endsWith('/user/phone'))).toHaveLength(1);
  });

  it('retries a 503 with the same code, and keeps the token on a 400', async () => {
    const { wx, sent } = scriptedWx(api((_s, n) => (n === 0 ? { statusCode: 503, data: ours('WECHAT_UNAVAILABLE'), header: { 'Retry-After': '1' } } : { statusCode: 200, data: number })));
    const auth = kit(wx);
    await expect(auth.bindPhone('c')).resolves.toEqual(number);
    const posts = sent.filter((s) => s.url.endsWith('/user/phone'));
    expect(posts.map((p) => p.data)).toEqual([{ code: 'c' }, { code: 'c' }]);
    expect(auth.getToken()).toBe(TOKEN);
  });
});

describe('Method: uploadAvatar', () => {
  const profile = { userId: 'u1', avatarUrl: 'https://img.example.com/avatars/u1/k.png' };

  it('uploads the chosen file with wx.uploadFile, field "file", signed in, and resolves with the parsed profile', async () => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: 200, data: profile })));
    await expect(kit(wx).uploadAvatar('wxfile://tmp_avatar.png')).resolves.toEqual(profile);
    expect(sent.find((s) => s.url === `${BASE}/user/avatar`)).toMatchObject({ data: { filePath: 'wxfile://tmp_avatar.png', name: 'file' }, header: { Authorization: `Bearer ${TOKEN}` } });
  });

  it.each([
    [413, 'AVATAR_TOO_LARGE'],
    [415, 'UNSUPPORTED_IMAGE'],
  ])('rejects %i %s with the code from the string body, after one upload', async (status, code) => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: status, data: JSON.stringify(ours(code)) })));
    await expect(kit(wx).uploadAvatar('wxfile://a')).rejects.toMatchObject({ name: 'AuthError', statusCode: status, code });
    expect(sent.filter((s) => s.url.endsWith('/user/avatar'))).toHaveLength(1);
  });

  it('logs in again and uploads once more when the authorizer refuses the token', async () => {
    const { wx, sent, calls } = scriptedWx(api((_s, n) => (n === 0 ? { statusCode: 403, data: gateway('Forbidden') } : { statusCode: 200, data: profile })));
    await expect(kit(wx).uploadAvatar('wxfile://a')).resolves.toEqual(profile);
    expect(sent.filter((s) => s.url.endsWith('/user/avatar'))).toHaveLength(2);
    expect(calls.login).toBe(2);
  });

  it('retries the gateway’s 500 (the route never ran) but not a 502, which may follow a stored file', async () => {
    const retried = scriptedWx(api((_s, n) => (n === 0 ? { statusCode: 500, data: gateway('Internal Server Error') } : { statusCode: 200, data: profile })));
    await expect(kit(retried.wx).uploadAvatar('wxfile://a')).resolves.toEqual(profile);
    const kept = scriptedWx(api(() => ({ statusCode: 502, data: 'bad gateway' })));
    await expect(kit(kept.wx).uploadAvatar('wxfile://a')).rejects.toMatchObject({ statusCode: 502 });
    expect(kept.sent.filter((s) => s.url.endsWith('/user/avatar'))).toHaveLength(1);
  });

  it('rejects NO_FILE without a path, and sends nothing', async () => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: 200, data: profile })));
    await expect(kit(wx).uploadAvatar('')).rejects.toMatchObject({ code: 'NO_FILE' });
    expect(sent).toHaveLength(0);
  });
});

describe('Methods: sessions and endSession', () => {
  const listed = [{ id: 'A'.repeat(22), current: true, createdAt: 'c', lastUsedAt: 'u', expiresAt: 'e', maxExpiresAt: 'm', agent: 'iOS 17.1, WeChat 8.0.47' }];

  it('lists the sessions with the token, and ends one by its id with DELETE (wx.request has no PATCH), resolving on 204', async () => {
    const { wx, sent } = scriptedWx(api((s) => (s.method === 'GET' ? { statusCode: 200, data: { sessions: listed } } : { statusCode: 204 })));
    const auth = kit(wx);
    await expect(auth.sessions()).resolves.toEqual(listed);
    await expect(auth.endSession('B'.repeat(22))).resolves.toBeUndefined();
    const calls = sent.filter((s) => s.url.includes('/user/sessions'));
    expect(calls.map((s) => `${s.method} ${s.url}`)).toEqual([`GET ${BASE}/user/sessions`, `DELETE ${BASE}/user/sessions/${'B'.repeat(22)}`]);
    for (const call of calls) expect(call.header.Authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('rejects SESSION_NOT_FOUND after one request, and an empty id before any', async () => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: 404, data: ours('SESSION_NOT_FOUND') })));
    const auth = kit(wx);
    await expect(auth.endSession('C'.repeat(22))).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND', statusCode: 404 });
    expect(sent.filter((s) => s.method === 'DELETE')).toHaveLength(1);
    await expect(auth.endSession('')).rejects.toMatchObject({ code: 'NO_SESSION_ID' });
    expect(sent.filter((s) => s.method === 'DELETE')).toHaveLength(1);
  });
});

describe('Method: openData', () => {
  const wxData = { encryptedData: 'ZW5j', iv: 'aXY=' };
  const steps = { stepInfoList: [{ timestamp: 1, step: 8021 }] };
  /** Logins answer fresh tokens in turn; opendata answers `opendata(n)`; logout is recorded. */
  function server(opendata: (n: number) => Reply) {
    let logins = 0;
    let n = 0;
    return (s: Sent): Reply => {
      if (s.url.endsWith('/user/wechatlogin')) return loggedIn(String(++logins).repeat(43));
      if (s.url.endsWith('/user/logout')) return { statusCode: 204 };
      return opendata(n++);
    };
  }
  /** Every wx.login code the kit took was sent to the server: none could replace the key behind its back. */
  const everyCodeSent = (calls: { login: number }, sent: Sent[]) =>
    expect(sent.filter((s) => s.url.endsWith('/user/wechatlogin')).map((s) => (s.data as { code: string }).code).sort()).toEqual(Array.from({ length: calls.login }, (_, i) => `code-${i + 1}`).sort());

  it('posts the wx API’s encryptedData and iv with the token and resolves with the data', async () => {
    const { wx, sent, calls } = scriptedWx(server(() => ({ statusCode: 200, data: steps })));
    await expect(kit(wx).openData(async () => ({ ...wxData, errMsg: 'getWeRunData:ok', cloudID: 'c' }))).resolves.toEqual(steps);
    const post = sent.find((s) => s.url === `${BASE}/user/opendata`)!;
    expect(post).toMatchObject({ method: 'POST', data: wxData, header: { Authorization: `Bearer ${'1'.repeat(43)}` } });
    everyCodeSent(calls, sent);
  });

  it('heals a stale key once: a login the server sees, the old session ended, the wx API called again, posted again', async () => {
    const { wx, sent, calls } = scriptedWx(server((n) => (n === 0 ? { statusCode: 401, data: ours('SESSION_KEY_EXPIRED') } : { statusCode: 200, data: steps })));
    let fetched = 0;
    await expect(kit(wx).openData(async () => (fetched++, wxData))).resolves.toEqual(steps);
    expect(fetched).toBe(2);
    expect(calls.login).toBe(2);
    everyCodeSent(calls, sent);
    const logout = sent.find((s) => s.url.endsWith('/user/logout'))!;
    expect(logout.header.Authorization).toBe(`Bearer ${'1'.repeat(43)}`);
    const posts = sent.filter((s) => s.url.endsWith('/user/opendata'));
    expect(posts.map((s) => s.header.Authorization)).toEqual([`Bearer ${'1'.repeat(43)}`, `Bearer ${'2'.repeat(43)}`]);
  });

  it('heals two calls at once with one login, ending only the old session, each fetching again under the new one', async () => {
    const T1 = '1'.repeat(43);
    let logins = 0;
    // Answers by the token each post carries: the first session's key is stale, the second's current.
    const { wx, sent, calls } = scriptedWx((s) => {
      if (s.url.endsWith('/user/wechatlogin')) return loggedIn(String(++logins).repeat(43));
      if (s.url.endsWith('/user/logout')) return { statusCode: 204 };
      return s.header.Authorization === `Bearer ${T1}` ? { statusCode: 401, data: ours('SESSION_KEY_EXPIRED') } : { statusCode: 200, data: steps };
    });
    const auth = kit(wx);
    await auth.login();
    let fetched = 0;
    const results = await Promise.all([auth.openData(async () => (fetched++, wxData)), auth.openData(async () => (fetched++, wxData))]);
    expect(results).toEqual([steps, steps]);
    expect(calls.login, 'the first login and one heal').toBe(2);
    expect(fetched).toBe(4);
    const ended = sent.filter((s) => s.url.endsWith('/user/logout')).map((s) => s.header.Authorization);
    expect(new Set(ended)).toEqual(new Set([`Bearer ${T1}`]));
    everyCodeSent(calls, sent);
  });

  it('heals at most once per call, and hands back every other error after one request', async () => {
    const stale = scriptedWx(server(() => ({ statusCode: 401, data: ours('SESSION_KEY_EXPIRED') })));
    await expect(kit(stale.wx).openData(async () => wxData)).rejects.toMatchObject({ code: 'SESSION_KEY_EXPIRED', statusCode: 401 });
    expect(stale.calls.login).toBe(2);
    everyCodeSent(stale.calls, stale.sent);

    const invalid = scriptedWx(server(() => ({ statusCode: 400, data: ours('OPENDATA_INVALID') })));
    await expect(kit(invalid.wx).openData(async () => wxData)).rejects.toMatchObject({ code: 'OPENDATA_INVALID' });
    expect(invalid.sent.filter((s) => s.url.endsWith('/user/opendata'))).toHaveLength(1);
    expect(invalid.calls.login).toBe(1);
  });

  it('rejects NO_OPEN_DATA when the wx API gave nothing to post, and the wx API’s own failure as is, posting nothing', async () => {
    const { wx, sent } = scriptedWx(server(() => ({ statusCode: 200, data: steps })));
    await expect(kit(wx).openData(async () => ({ errMsg: 'getWeRunData:ok' }))).rejects.toMatchObject({ code: 'NO_OPEN_DATA' });
    await expect(kit(wx).openData(async () => Promise.reject(new Error('getWeRunData:fail auth deny')))).rejects.toThrow('auth deny');
    await expect(kit(wx).openData(undefined as never)).rejects.toMatchObject({ code: 'NO_OPEN_DATA' });
    expect(sent.filter((s) => s.url.endsWith('/user/opendata'))).toHaveLength(0);
  });
});

describe('Every wx.login code the kit takes is sent to the server', () => {
  it('through logins, a relogin after a refused token, a deletion and an open-data heal', async () => {
    let n = 0;
    const { wx, sent, calls } = scriptedWx((s) => {
      if (s.url.endsWith('/user/wechatlogin')) return loggedIn(String(++n % 10).repeat(43));
      if (s.url.endsWith('/user/me') && n === 1) return { statusCode: 401, data: gateway('Unauthorized') };
      if (s.url.endsWith('/user/opendata')) return n < 3 ? { statusCode: 401, data: ours('SESSION_KEY_EXPIRED') } : { statusCode: 200, data: {} };
      if (s.url.endsWith('/user/delete')) return { statusCode: 204 };
      return { statusCode: 200, data: {} };
    });
    const auth = kit(wx);
    await auth.request({ url: '/user/me' });
    await auth.openData(async () => ({ encryptedData: 'ZW5j', iv: 'aXY=' }));
    await auth.deleteAccount();
    const codes = sent.filter((s) => s.url.endsWith('/user/wechatlogin') || s.url.endsWith('/user/delete')).map((s) => (s.data as { code: string }).code);
    expect(calls.login).toBeGreaterThanOrEqual(4);
    expect(codes.sort()).toEqual(Array.from({ length: calls.login }, (_, i) => `code-${i + 1}`).sort());
  });
});

describe('Method: updateProfile', () => {
  it('posts the nickname as JSON and resolves with the profile; CONTENT_REJECTED rejects after one request', async () => {
    const { wx, sent } = scriptedWx(api((_s, n) => (n === 0 ? { statusCode: 200, data: { userId: 'u1', nickname: '丽塔' } } : { statusCode: 400, data: ours('CONTENT_REJECTED') })));
    const auth = kit(wx);
    await expect(auth.updateProfile({ nickname: '丽塔' })).resolves.toEqual({ userId: 'u1', nickname: '丽塔' });
    expect(sent.find((s) => s.url === `${BASE}/user/profile`)).toMatchObject({ method: 'POST', data: { nickname: '丽塔' } });
    await expect(auth.updateProfile({ nickname: 'risky' })).rejects.toMatchObject({ code: 'CONTENT_REJECTED', statusCode: 400 });
    expect(sent.filter((s) => s.url.endsWith('/user/profile'))).toHaveLength(2);
  });
});

describe('Method: deleteAccount', () => {
  const deletes = (sent: Sent[]) => sent.filter((s) => s.url === `${BASE}/user/delete`);

  it('posts a fresh wx.login code with the token, then holds no session and stays signed out until login()', async () => {
    const { wx, sent, storage, logins } = scriptedWx(api(() => ({ statusCode: 204 })));
    const auth = kit(wx);
    await auth.login();
    await expect(auth.deleteAccount()).resolves.toBeUndefined();
    expect(deletes(sent)).toEqual([expect.objectContaining({ method: 'POST', data: { code: 'code-2' }, header: expect.objectContaining({ Authorization: `Bearer ${TOKEN}` }) })]);
    expect(auth.getToken()).toBeNull();
    expect(JSON.stringify([...storage.values()])).not.toContain(TOKEN);
    // No silent sign-up of a new account behind the user's back.
    await expect(auth.request({ url: '/user/me' })).rejects.toMatchObject({ name: 'AuthError', code: 'ACCOUNT_DELETED' });
    expect(logins()).toHaveLength(1);
    await auth.login();
    expect(auth.getToken()).toBe(TOKEN);
  });

  it('counts a retry the authorizer refuses, after an answer that was lost, as done', async () => {
    const { wx, sent } = scriptedWx(api((_s, n) => (n === 0 ? 'lost' : { statusCode: 401, data: gateway('Unauthorized') })));
    await expect(kit(wx).deleteAccount()).resolves.toBeUndefined();
    // Each attempt re-authenticates with its own code: a code is usable once.
    expect(deletes(sent).map((s) => s.data)).toEqual([{ code: 'code-2' }, { code: 'code-3' }]);
  });

  it('retries a 503 (a step failed: its retry resumes the deletion) and a 500 of the gateway, with a fresh code each', async () => {
    const replies: Reply[] = [
      { statusCode: 503, data: ours('SERVICE_UNAVAILABLE'), header: { 'retry-after': '1' } },
      { statusCode: 500, data: gateway('Internal Server Error') },
      { statusCode: 204 },
    ];
    const waits: number[] = [];
    const { wx, sent } = scriptedWx(api((_s, n) => replies[n]!));
    await expect(kit(wx, waits).deleteAccount()).resolves.toBeUndefined();
    expect(deletes(sent).map((s) => s.data)).toEqual([{ code: 'code-2' }, { code: 'code-3' }, { code: 'code-4' }]);
    expect(waits[0]).toBe(1000);
  });

  it('signs in again once when the token was dead before any attempt, and does not count that refusal as done', async () => {
    const refusedTwice = scriptedWx(api(() => ({ statusCode: 403, data: gateway('Forbidden') })));
    await expect(kit(refusedTwice.wx).deleteAccount()).rejects.toMatchObject({ name: 'AuthError', statusCode: 403 });
    expect(deletes(refusedTwice.sent)).toHaveLength(2);
    expect(refusedTwice.logins()).toHaveLength(2);
    const refusedOnce = scriptedWx(api((_s, n) => (n === 0 ? { statusCode: 401, data: gateway('Unauthorized') } : { statusCode: 204 })));
    await expect(kit(refusedOnce.wx).deleteAccount()).resolves.toBeUndefined();
  });

  it('rejects REAUTH_FAILED after one attempt and keeps the session', async () => {
    const { wx, sent } = scriptedWx(api(() => ({ statusCode: 403, data: ours('REAUTH_FAILED') })));
    const auth = kit(wx);
    await expect(auth.deleteAccount()).rejects.toMatchObject({ name: 'AuthError', statusCode: 403, code: 'REAUTH_FAILED' });
    expect(deletes(sent)).toHaveLength(1);
    expect(auth.getToken()).toBe(TOKEN);
  });

  it('gives up after maxRetries lost answers with NETWORK_ERROR, the session kept for a later try', async () => {
    const { wx, sent } = scriptedWx(api(() => 'lost'));
    const auth = kit(wx, [], { maxRetries: 2 });
    await expect(auth.deleteAccount()).rejects.toMatchObject({ name: 'AuthError', code: 'NETWORK_ERROR' });
    expect(deletes(sent)).toHaveLength(3);
    expect(auth.getToken()).toBe(TOKEN);
  });
});
