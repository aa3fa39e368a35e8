import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devEnvPath } from '../../local/env-file';
import { finishLogin, startLogin } from '../../examples/h5/wechat-login.js';
import { exited, runScript, startDevServer, type DevServer } from '../support/dev-server';

/**
 * Identities through `npm run dev` (docs/identities.md), over HTTP as a mini-program calls it:
 * its two mini-programs of one open platform, the stub's `NAME.union…` codes for a person whose
 * apps are bound, and the operator's merge with the env file it writes.
 */
describe('Identities through npm run dev (integration)', () => {
  let dev: DevServer;
  beforeAll(async () => {
    // A 公众号's H5 pages' origin, for CORS (deploy/cors.cjs).
    dev = await startDevServer({ H5_ORIGINS: 'http://h5.local.test' });
  }, 120_000);
  afterAll(async () => {
    await dev?.kill();
  });

  const mini2 = () => dev.env().WECHAT_APPID_MINI2!;
  const post = async (path: string, body: object, token?: string) => {
    const response = await fetch(`${dev.base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: response.status === 204 ? undefined : ((await response.json()) as any) };
  };
  const login = async (code: string, appid?: string) => (await post('/user/wechatlogin', { code, ...(appid ? { appid } : {}) })).body as { token: string; userId: string; isNewUser: boolean };
  const me = async (token: string) => {
    const response = await fetch(`${dev.base}/user/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: response.status === 200 ? ((await response.json()) as any) : undefined };
  };

  it('one person across two mini-programs is one user; two people without unionids are two; a user from before the binding takes the unionid', async () => {
    const inFirst = await login('dana.union1');
    const inSecond = await login('dana.union2', mini2());
    expect(inSecond).toMatchObject({ userId: inFirst.userId, isNewUser: false });
    expect((await me(inSecond.token)).body.apps.map((app: { appid: string }) => app.appid).sort()).toEqual([dev.env().WECHAT_APPID, mini2()].sort());

    const ed = await login('ed.1');
    const flo = await login('flo.1', mini2());
    expect(ed.userId).not.toBe(flo.userId);

    // The backfill: Ed signed up before the binding; his next login brings the unionid, and his
    // first login from the second mini-program joins him.
    expect(await login('ed.union2')).toMatchObject({ userId: ed.userId, isNewUser: false });
    expect(await login('ed.union3', mini2())).toMatchObject({ userId: ed.userId, isNewUser: false });
  });

  it('records the conflict of a person with a user in each app from before the binding, and the operator’s merge makes them one', async () => {
    const first = await login('gwen.1');
    const second = await login('gwen.2', mini2());
    await login('gwen.union3');
    expect(await login('gwen.union4', mini2())).toMatchObject({ userId: second.userId });
    const merge = runScript('scripts/users.ts', {}, ['--env', devEnvPath(Number(new URL(dev.base).port)), 'merge', second.userId, first.userId]);
    expect(await exited(merge.child), merge.output()).toBe(0);
    expect((await me(second.token)).status).toBe(403);
    expect(await login('gwen.union5', mini2())).toMatchObject({ userId: first.userId, isNewUser: false });
    expect((await me(first.token)).body.loginCount).toBeGreaterThanOrEqual(5);
  });

  it('deletes the user and every identity from the second mini-program’s session, re-authenticated there: both apps’ sessions end, and a later login is a new user', async () => {
    const first = await login('hana.union1');
    const second = await login('hana.union2', mini2());
    // Another person's fresh code: refused, nothing deleted.
    expect(await post('/user/delete', { code: 'ivan.1' }, second.token)).toMatchObject({ status: 403, body: { error: { code: 'REAUTH_FAILED' } } });
    expect((await me(first.token)).status).toBe(200);
    // Her own fresh code, exchanged in the session's app (the second mini-program).
    expect((await post('/user/delete', { code: 'hana.union3' }, second.token)).status).toBe(204);
    expect((await me(first.token)).status).toBe(403);
    expect((await me(second.token)).status).toBe(403);
    const again = await login('hana.union4', mini2());
    expect(again).toMatchObject({ isNewUser: true });
    expect(again.userId).not.toBe(first.userId);
  });

  it('answers CORS for the 公众号’s H5 origin alone: the preflight and the login’s answer', async () => {
    const preflight = (origin: string) =>
      fetch(`${dev.base}/user/wechatlogin/web`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    const allowed = await preflight('http://h5.local.test');
    expect(allowed.status).toBeLessThan(300);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://h5.local.test');
    expect((await preflight('http://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const posted = await fetch(`${dev.base}/user/wechatlogin/web`, {
      method: 'POST',
      headers: { origin: 'http://h5.local.test', 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'iris.userinfo.union1' }),
    });
    expect(posted.status).toBe(200);
    expect(posted.headers.get('access-control-allow-origin')).toBe('http://h5.local.test');
    // Another origin's POST gets no CORS header either (a browser hides the answer from it).
    const elsewhere = await fetch(`${dev.base}/user/wechatlogin/web`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/json' }, body: JSON.stringify({ code: 'iris.userinfo.union2' }) });
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('logs a 公众号 H5 page in as docs/client.md shows: WeChat’s OAuth redirect with a state, checked on the way back, then the code posted', async () => {
    const web = dev.env().WECHAT_APPID_WEB!;
    const storage = new Map<string, string>();
    let assigned = '';
    let shown = '';
    const page = (search = '') => ({
      location: { href: `http://h5.local.test/login${search}`, search, assign: (url: string) => void (assigned = url) },
      history: { replaceState: (_data: unknown, _unused: string, url: string) => void (shown = url) },
      sessionStorage: { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => void storage.set(k, v), removeItem: (k: string) => void storage.delete(k) },
      crypto: globalThis.crypto,
      fetch: (url: string, init: { method: string; headers: Record<string, string>; body: string }) => fetch(url, { ...init, headers: { ...init.headers, origin: 'http://h5.local.test' } }),
    });
    startLogin(page(), { appid: web });
    const redirect = new URL(assigned);
    expect(`${redirect.origin}${redirect.pathname}`).toBe('https://open.weixin.qq.com/connect/oauth2/authorize');
    expect(redirect.hash).toBe('#wechat_redirect');
    expect([...redirect.searchParams.keys()]).toEqual(['appid', 'redirect_uri', 'response_type', 'scope', 'state']);
    expect(redirect.searchParams.get('redirect_uri')).toBe('http://h5.local.test/login');
    const state = redirect.searchParams.get('state')!;
    expect(state).toMatch(/^[0-9a-f]{32}$/);

    // Another site's link, with a code of its own and no state of this tab: refused.
    await expect(finishLogin(page('?code=mallory.userinfo.union1&state=guess'), { api: dev.base, appid: web })).rejects.toThrow(/state/);
    startLogin(page(), { appid: web });
    const fresh = new URL(assigned).searchParams.get('state')!;
    // WeChat brings the user back with the code and the state.
    const answer = await finishLogin(page(`?code=tess.userinfo.union1&state=${fresh}`), { api: dev.base, appid: web });
    expect(answer).toMatchObject({ token: expect.any(String), isNewUser: true });
    // The spent code is off the address bar.
    expect(shown).toBe('http://h5.local.test/login');
    expect(await finishLogin(page(''), { api: dev.base })).toBeNull();
  });
});
