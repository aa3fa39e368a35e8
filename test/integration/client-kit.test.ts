import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, runScript, startDevServer, type DevServer } from '../support/dev-server';
import { fakeWx } from '../support/fake-wx';
import { IMAGES } from '../support/multipart';

const { createAuth } = createRequire(import.meta.url)('../../client/wechat-auth.js') as typeof import('../../client/wechat-auth');

/**
 * The mini-program client kit, run in Node with a fake `wx` whose requests are real HTTP to
 * `npm run dev`: the kit against the real service, authorizer included.
 */
describe('client/wechat-auth.js against npm run dev (integration)', () => {
  let dev: DevServer;
  let seq = 0;
  /** Codes the stub turns into logins of `name`. */
  const codesFor = (name: string) => () => `${name}.${++seq}`;
  const noSleep = { sleep: async () => {} };

  beforeAll(async () => {
    dev = await startDevServer();
  }, 120_000);
  afterAll(async () => {
    await dev?.kill();
  });

  it('answers no CORS header without the stage’s H5 origins, as API Gateway (the patched serverless offline)', async () => {
    const preflight = await fetch(`${dev.base}/user/wechatlogin`, { method: 'OPTIONS', headers: { origin: 'http://page.example', 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const posted = await fetch(`${dev.base}/user/wechatlogin`, { method: 'POST', headers: { origin: 'http://page.example' }, body: '{}' });
    expect(posted.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('turns 10 parallel requests into 1 wx.login and 1 login POST', async () => {
    const wx = fakeWx(codesFor('kit-a'));
    const auth = createAuth({ baseUrl: dev.base, wx });
    const responses = await Promise.all(Array.from({ length: 10 }, () => auth.request<{ userId: string }>({ url: '/user/me' })));

    expect(responses.map((r) => r.statusCode)).toEqual(Array(10).fill(200));
    expect(new Set(responses.map((r) => r.data.userId)).size).toBe(1);
    expect(wx.calls.login).toBe(1);
    expect(wx.calls.requests.filter((r) => r.url.endsWith('/user/wechatlogin'))).toHaveLength(1);
    expect(auth.getToken()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('names its mini-program’s AppID in each login (wx.getAccountInfoSync): the same person from npm run dev’s second mini-program is one user', async () => {
    const mini2 = dev.env().WECHAT_APPID_MINI2!;
    const inFirst = createAuth({ baseUrl: dev.base, wx: fakeWx(() => `kit-union.union${++seq}`, new Map(), new Map(), dev.env().WECHAT_APPID) });
    const wx = fakeWx(() => `kit-union.union${++seq}`, new Map(), new Map(), mini2);
    const inSecond = createAuth({ baseUrl: dev.base, wx });
    const first = await inFirst.login();
    const second = await inSecond.login();
    expect(second.userId).toBe(first.userId);
    expect(wx.calls.requests.find((r) => r.url.endsWith('/user/wechatlogin'))!.data).toEqual({ code: expect.any(String), appid: mini2 });
    const me = await inSecond.request<{ apps: { appid: string }[] }>({ url: '/user/me' });
    expect(me.data.apps.map((app) => app.appid).sort()).toEqual([dev.env().WECHAT_APPID, mini2].sort());
    // An AppID the server does not serve (a project whose AppID npm run dev was not started with):
    // a clear error, once, without a retry loop.
    const stranger = fakeWx(() => `kit-stranger.${++seq}`, new Map(), new Map(), 'wx1234567890abcdef');
    await expect(createAuth({ baseUrl: dev.base, wx: stranger, ...noSleep }).login()).rejects.toMatchObject({ code: 'UNKNOWN_APP', statusCode: 400 });
    expect(stranger.calls.requests.filter((r) => r.url.endsWith('/user/wechatlogin'))).toHaveLength(1);
    // appid: false sends none: the default app's.
    const none = fakeWx(() => `kit-none.${++seq}`, new Map(), new Map(), 'wx1234567890abcdef');
    await createAuth({ baseUrl: dev.base, wx: none, appid: false }).login();
    expect(none.calls.requests.find((r) => r.url.endsWith('/user/wechatlogin'))!.data).toEqual({ code: expect.any(String) });
  });

  it('binds a phone number with bindPhone, shown by /user/me; a taken number rejects PHONE_IN_USE after one request', async () => {
    const number = `139${String(Date.now() % 1e8).padStart(8, '0')}`;
    const wx = fakeWx(codesFor('kit-phone'));
    const auth = createAuth({ baseUrl: dev.base, wx });
    await expect(auth.bindPhone(`${number}.kit`)).resolves.toEqual({ countryCode: '86', purePhoneNumber: number, phoneNumber: number });
    expect((await auth.request<{ phone: { purePhoneNumber: string } }>({ url: '/user/me' })).data.phone.purePhoneNumber).toBe(number);

    const otherWx = fakeWx(codesFor('kit-phone-other'));
    const other = createAuth({ baseUrl: dev.base, wx: otherWx, ...noSleep });
    await expect(other.bindPhone(`${number}.other`)).rejects.toMatchObject({ name: 'AuthError', statusCode: 409, code: 'PHONE_IN_USE' });
    expect(otherWx.calls.requests.filter((r) => r.url.endsWith('/user/phone'))).toHaveLength(1);
  });

  it('sets an avatar with uploadAvatar (wx.uploadFile through serverless offline, which hands the function a base64 body as API Gateway does) and a nickname with updateProfile', async () => {
    const files = new Map([['wxfile://tmp/avatar.png', IMAGES.png]]);
    const wx = fakeWx(codesFor('kit-avatar'), new Map(), files);
    const auth = createAuth({ baseUrl: dev.base, wx });
    const withAvatar = await auth.uploadAvatar('wxfile://tmp/avatar.png');
    expect(withAvatar.avatarUrl).toMatch(/\/avatars\/[0-9A-Z]{26}\/[A-Za-z0-9_-]+\.png$/);
    const served = await fetch(withAvatar.avatarUrl!);
    expect(Buffer.from(await served.arrayBuffer())).toEqual(IMAGES.png);

    const named = await auth.updateProfile({ nickname: '丽塔' });
    expect(named).toMatchObject({ nickname: '丽塔', avatarUrl: withAvatar.avatarUrl });
    await expect(auth.updateProfile({ nickname: 'a risky name' })).rejects.toMatchObject({ code: 'CONTENT_REJECTED', statusCode: 400 });
    files.set('wxfile://tmp/page.html', IMAGES.html);
    await expect(auth.uploadAvatar('wxfile://tmp/page.html')).rejects.toMatchObject({ code: 'UNSUPPORTED_IMAGE', statusCode: 415 });
  });

  it('exports the account, then deletes it with deleteAccount: the token is dead, the avatar gone, and only login() starts a new account', async () => {
    const files = new Map([['wxfile://tmp/avatar.png', IMAGES.png]]);
    const wx = fakeWx(codesFor('kit-delete'), new Map(), files);
    const auth = createAuth({ baseUrl: dev.base, wx });
    const { token, userId } = await auth.login();
    const { avatarUrl } = await auth.uploadAvatar('wxfile://tmp/avatar.png');
    const exported = await auth.request<{ userId: string; avatarUrl?: string; sessions: unknown[] }>({ url: '/user/me/export' });
    expect(exported.statusCode).toBe(200);
    expect(exported.data).toMatchObject({ userId, avatarUrl, sessions: [expect.objectContaining({ current: true })] });
    expect(JSON.stringify(exported.data)).not.toContain(token);

    await expect(auth.deleteAccount()).resolves.toBeUndefined();
    expect(wx.calls.requests.filter((r) => r.url.endsWith('/user/delete')).map((r) => r.status)).toEqual([204]);
    expect((await fetch(`${dev.base}/user/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
    // The CDN's view of a deleted file: 403, as S3 answers a missing key to whoever may not list.
    expect((await fetch(avatarUrl!)).status).toBe(403);
    const logins = wx.calls.login;
    await expect(auth.request({ url: '/user/me' })).rejects.toMatchObject({ code: 'ACCOUNT_DELETED' });
    expect(wx.calls.login).toBe(logins);
    const again = await auth.login();
    expect(again).toMatchObject({ isNewUser: true });
    expect(again.userId).not.toBe(userId);
  });

  it('obeys each WeChat authorization event pushed with npm run push, as docs/wechat-push.md shows, through npm run dev', async () => {
    // The Token, EncodingAESKey, AppID and PORT npm run dev made up for this run, in the file it names.
    const envFile = /Endpoints and keys\s+(\S+)/.exec(dev.output())?.[1];
    expect(envFile).toBeDefined();
    const push = async (...args: string[]) => {
      const run = runScript('local/push.ts', {}, ['--env', envFile!, ...args]);
      const code = await exited(run.child);
      return { code, output: run.output() };
    };
    const files = new Map([['wxfile://tmp/avatar.png', IMAGES.png]]);
    const wx = fakeWx(codesFor('kit-push'), new Map(), files);
    const auth = createAuth({ baseUrl: dev.base, wx, ...noSleep });
    const { userId, token: session } = await auth.login();
    await auth.bindPhone(`13${String(Date.now()).slice(-9)}.kit-push`);
    await auth.uploadAvatar('wxfile://tmp/avatar.png');
    await auth.updateProfile({ nickname: 'Rita' });
    const me = async () => (await auth.request<Record<string, unknown>>({ url: '/user/me' })).data;
    expect(await me()).toMatchObject({ nickname: 'Rita', avatarUrl: expect.any(String), phone: expect.any(Object) });

    expect(await push('--check')).toMatchObject({ code: 0, output: expect.stringMatching(/^200 text\/plain/) });
    expect(await push('--event', 'user_authorization_revoke', '--revoke', '8', '--user', 'kit-push')).toMatchObject({ code: 0, output: expect.stringContaining('success') });
    const afterRevoke = await me();
    expect(afterRevoke.phone).toBeUndefined();
    expect(afterRevoke.nickname).toBe('Rita');
    // 数据格式 left at XML: signed by WeChat, so 400 (not a signature failure), and nothing done.
    expect(await push('--event', 'user_info_modified', '--user', 'kit-push', '--xml')).toMatchObject({ code: 1, output: expect.stringMatching(/^400 /) });
    expect((await me()).nickname).toBe('Rita');
    expect(await push('--event', 'user_info_modified', '--user', 'kit-push')).toMatchObject({ code: 0 });
    const afterCleanup = await me();
    expect(afterCleanup.nickname).toBeUndefined();
    expect(afterCleanup.avatarUrl).toBeUndefined();
    expect(await push('--event', 'user_authorization_cancellation', '--user', 'kit-push')).toMatchObject({ code: 0 });
    expect((await fetch(`${dev.base}/user/me`, { headers: { authorization: `Bearer ${session}` } })).status).toBe(403);
    const fresh = await createAuth({ baseUrl: dev.base, wx: fakeWx(codesFor('kit-push')) }).login();
    expect(fresh).toMatchObject({ isNewUser: true });
    expect(fresh.userId).not.toBe(userId);
  });

  it('resolves relative and absolute URLs and passes headers and the method through', async () => {
    const wx = fakeWx(codesFor('kit-b'));
    const auth = createAuth({ baseUrl: `${dev.base}/`, wx });
    expect((await auth.request({ url: 'user/me' })).statusCode).toBe(200);
    expect((await auth.request({ url: `${dev.base}/user/me`, header: { 'x-trace': '1' } })).statusCode).toBe(200);
    expect(wx.calls.requests.every((r) => r.url.startsWith(`${dev.base}/user/`))).toBe(true);
  });

  it('lets a relaunch reuse the stored token without calling wx.login', async () => {
    const storage = new Map<string, unknown>();
    const first = createAuth({ baseUrl: dev.base, wx: fakeWx(codesFor('kit-c'), storage) });
    const { token } = await first.login();

    const wx = fakeWx(codesFor('kit-c'), storage);
    const relaunched = createAuth({ baseUrl: dev.base, wx });
    expect(relaunched.getToken()).toBe(token);
    expect((await relaunched.request({ url: '/user/me' })).statusCode).toBe(200);
    expect(wx.calls.login).toBe(0);
  });

  it('logs in again, once, when its token has been revoked elsewhere, and retries the request', async () => {
    const phone = fakeWx(codesFor('kit-d'));
    const auth = createAuth({ baseUrl: dev.base, wx: phone });
    const { token: old, userId } = await auth.login();

    // The same user on another device logs out everywhere.
    const tablet = createAuth({ baseUrl: dev.base, wx: fakeWx(codesFor('kit-d')) });
    await tablet.login();
    await tablet.logout({ all: true });

    const response = await auth.request<{ userId: string }>({ url: '/user/me' });
    expect(response.statusCode).toBe(200);
    expect(response.data.userId).toBe(userId);
    expect(phone.calls.login).toBe(2);
    expect(auth.getToken()).not.toBe(old);
    expect(phone.calls.requests.map((r) => r.status)).toEqual([200, 403, 200, 200]);
  });

  it('retries only once: a token refused again is answered as it came', async () => {
    const wx = fakeWx(codesFor('kit-e'));
    const auth = createAuth({ baseUrl: dev.base, wx });
    wx.failNext('/user/me', 2, 403, {}, { message: 'Forbidden' });
    const response = await auth.request({ url: '/user/me' });
    expect(response.statusCode).toBe(403);
    expect(wx.calls.login).toBe(2);
  });

  it('backs off on 503 and succeeds when the service recovers', async () => {
    const waits: number[] = [];
    const wx = fakeWx(codesFor('kit-f'));
    const auth = createAuth({ baseUrl: dev.base, wx, sleep: async (ms) => void waits.push(ms) });
    await auth.login();
    wx.failNext('/user/me', 2, 503);
    const response = await auth.request({ url: '/user/me' });
    expect(response.statusCode).toBe(200);
    expect(waits).toHaveLength(2);
    expect(waits[1]!).toBeGreaterThanOrEqual(waits[0]!);
    expect(Math.max(...waits)).toBeLessThanOrEqual(8000);
  });

  it('honours Retry-After, and does not wait past its cap', async () => {
    const waits: number[] = [];
    const wx = fakeWx(codesFor('kit-g'));
    const auth = createAuth({ baseUrl: dev.base, wx, sleep: async (ms) => void waits.push(ms) });
    await auth.login();
    wx.failNext('/user/me', 1, 429, { 'Retry-After': '2' }, { error: { code: 'RATE_LIMITED', message: 'Too many requests. Retry later.' } });
    expect((await auth.request({ url: '/user/me' })).statusCode).toBe(200);
    expect(waits).toEqual([2000]);

    wx.failNext('/user/me', 1, 503, { 'retry-after': '60' });
    expect((await auth.request({ url: '/user/me' })).statusCode).toBe(503);
    expect(waits).toEqual([2000]);
  });

  it('gives up after a bounded number of retries when WeChat stays busy, with the server’s error code', async () => {
    const wx = fakeWx(() => 'errcode.-1');
    const auth = createAuth({ baseUrl: dev.base, wx, ...noSleep, maxRetries: 2 });
    await expect(auth.login()).rejects.toMatchObject({ name: 'AuthError', statusCode: 503, code: 'WECHAT_UNAVAILABLE' });
    expect(wx.calls.requests.filter((r) => r.url.endsWith('/user/wechatlogin'))).toHaveLength(3);
    expect(auth.getToken()).toBeNull();
  });

  it('sends a fresh X-Login-Proof from wx.getRandomValues with each code, the same on each retry of its POST', async () => {
    const codes = ['errcode.40029', `kit-p.${++seq}`];
    const wx = fakeWx(() => codes.shift()!);
    const auth = createAuth({ baseUrl: dev.base, wx, ...noSleep });
    wx.failNext('/user/wechatlogin', 1, 503, {}, { error: { code: 'SERVICE_UNAVAILABLE', message: 'Retry later.' } });
    await expect(auth.login()).resolves.toMatchObject({ token: expect.any(String) });

    const posts = wx.calls.requests.filter((r) => r.url.endsWith('/user/wechatlogin'));
    // code 1: the injected 503, its retry (401 INVALID_CODE from the server); code 2: 200.
    expect(posts.map((r) => r.status)).toEqual([503, 401, 200]);
    const proofs = posts.map((r) => r.header['X-Login-Proof']);
    for (const proof of proofs) expect(proof).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(proofs[1]).toBe(proofs[0]);
    expect(proofs[2]).not.toBe(proofs[0]);
    expect(wx.calls.login).toBe(2);
    expect(wx.calls.randomValues).toBe(2);
  });

  it('sends nothing of the session to another origin, and does not log in for it', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const other = http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Unauthorized"}');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const wx = fakeWx(codesFor('kit-o'));
      const auth = createAuth({ baseUrl: dev.base, wx });
      const { port } = other.address() as AddressInfo;
      const response = await auth.request({ url: `http://127.0.0.1:${port}/user/me`, header: { 'x-trace': '1' } });
      expect(response.statusCode).toBe(401);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.authorization).toBeUndefined();
      expect(seen[0]!['x-trace']).toBe('1');
      expect(wx.calls.login).toBe(0);

      // Signed in, the token still stays home, and the other origin's 401 does not drop it.
      const { token } = await auth.login();
      await auth.request({ url: `//127.0.0.1:${port}/user/me` });
      expect(seen[1]!.authorization).toBeUndefined();
      expect(auth.getToken()).toBe(token);
      expect(wx.calls.login).toBe(1);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('hands back a route’s own 401 (our error body) with the token kept', async () => {
    const wx = fakeWx(codesFor('kit-q'));
    const auth = createAuth({ baseUrl: dev.base, wx });
    const { token } = await auth.login();
    // The login route's own refusal of a code: 401 with our error body, not the authorizer's.
    const response = await auth.request({ url: '/user/wechatlogin', method: 'POST', data: { code: 'errcode.40029' } });
    expect(response).toMatchObject({ statusCode: 401, data: { error: { code: 'INVALID_CODE' } } });
    expect(auth.getToken()).toBe(token);
    expect(wx.calls.login).toBe(1);
  });

  it('gets one fresh code when WeChat refuses the first one', async () => {
    const codes = ['errcode.40029', `kit-h.${++seq}`];
    const wx = fakeWx(() => codes.shift()!);
    const auth = createAuth({ baseUrl: dev.base, wx });
    await expect(auth.login()).resolves.toMatchObject({ token: expect.any(String) });
    expect(wx.calls.login).toBe(2);
  });

  it('logout revokes the session on the server and clears storage, even when the call fails', async () => {
    const wx = fakeWx(codesFor('kit-i'));
    const auth = createAuth({ baseUrl: dev.base, wx });
    const { token } = await auth.login();
    await auth.logout();
    expect(auth.getToken()).toBeNull();
    expect(wx.storage.size).toBe(0);
    const refused = await fetch(`${dev.base}/user/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(refused.status).toBe(403);

    await auth.login();
    wx.failNext('/user/logout', 1, 503);
    await auth.logout();
    expect(wx.storage.size).toBe(0);
  });

  it('expires its stored token on the client too, and logs in again after it', async () => {
    let clock = Date.now();
    const wx = fakeWx(codesFor('kit-j'));
    const auth = createAuth({ baseUrl: dev.base, wx, now: () => clock });
    const { expiresIn } = await auth.login();
    clock += expiresIn * 1000;
    expect(auth.getToken()).toBeNull();
    expect((await auth.request({ url: '/user/me' })).statusCode).toBe(200);
    expect(wx.calls.login).toBe(2);
  });
});
