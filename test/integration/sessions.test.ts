import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RunningRedis } from '../../local/redis-server';
import { RespClient } from '../../local/resp';
import { freePort } from '../../local/serverless-cli';
import { startDevServer, type DevServer } from '../support/dev-server';
import { dumpRedis } from '../support/local';

/**
 * The session lifecycle through `npm run dev`: serverless offline runs the authorizer in front
 * of /user/me and /user/logout as API Gateway would. Redis is one this test owns, so it can
 * stop it and bring it back. SESSION_TTL_SECONDS=3 keeps expiry observable.
 */
describe('Sessions through npm run dev (integration)', () => {
  let redis: RunningRedis;
  let raw: RespClient;
  let dev: DevServer;
  const issued: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    redis = await startRedis({ port });
    raw = new RespClient(redis.address);
    dev = await startDevServer({ REDIS_URL: `redis://127.0.0.1:${port}`, SESSION_TTL_SECONDS: '3', REDIS_TIMEOUT_MS: '1000' });
  }, 120_000);

  afterAll(async () => {
    await dev?.kill();
    raw?.close();
    await redis?.close();
  });

  async function login(code: string): Promise<{ status: number; body: any }> {
    const response = await fetch(`${dev.base}/user/wechatlogin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    const body = await response.json();
    if (response.status === 200) issued.push((body as { token: string }).token);
    return { status: response.status, body };
  }
  const tokenFor = async (code: string) => (await login(code)).body.token as string;
  const me = (token?: string, scheme = 'Bearer') =>
    fetch(`${dev.base}/user/me`, { headers: token === undefined ? {} : { authorization: `${scheme} ${token}` } });
  const logout = (token: string, body?: object) =>
    fetch(`${dev.base}/user/logout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('reads /user/me with a login token: the profile, never session_key or openid', async () => {
    const { body: session } = await login('alice.1');
    const response = await me(session.token);
    expect(response.status).toBe(200);
    const profile = await response.json();
    expect(profile).toEqual({
      userId: session.userId,
      createdAt: expect.any(String),
      lastLoginAt: expect.any(String),
      loginCount: 1,
      // The apps the user signed in through: the local stack's default mini-program.
      apps: [{ appid: expect.stringMatching(/^wx/), kind: 'miniprogram' }],
    });
    expect(JSON.stringify(profile)).not.toMatch(/session_?key|openid/i);
  });

  it('answers a truncated avatar upload with 400 and lives on: the next login and upload work', async () => {
    const { body: session } = await login('trunc.1');
    // The reported body: a file part that ends before its boundary.
    const truncated = Buffer.from('--XB\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\nAAAA', 'binary');
    const upload = await fetch(`${dev.base}/user/avatar`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.token}`, 'content-type': 'multipart/form-data; boundary=XB' },
      body: truncated,
    });
    expect(upload.status).toBe(400);
    expect(await upload.json()).toMatchObject({ error: { code: 'INVALID_REQUEST' } });
    expect(dev.child.exitCode, 'npm run dev is still running').toBeNull();
    expect(dev.output()).not.toMatch(/Uncaught exception|Unexpected end of form/);
    const again = await login('trunc.2');
    expect(again.status).toBe(200);
    expect((await me(again.body.token)).status).toBe(200);
  });

  it('runs docs/api.md’s avatar snippet as written: a real PNG, stored and served with nosniff', async () => {
    const doc = readFileSync('docs/api.md', 'utf8');
    const block = [...doc.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('/user/avatar'));
    expect(block, 'docs/api.md has the avatar snippet').toBeDefined();
    const commands = block!.split('\n').filter((line) => line && !line.startsWith('#')).join('\n').replaceAll('http://localhost:3000', dev.base).replaceAll('/tmp/avatar.png', `/tmp/avatar-${process.pid}.png`);
    const { body: session } = await login('snippet.1');
    const out = execFileSync('bash', ['-c', commands], { env: { ...process.env, TOKEN: session.token }, encoding: 'utf8' });
    const { avatarUrl } = JSON.parse(out) as { avatarUrl: string };
    const served = await fetch(avatarUrl);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('runs docs/api.md’s open-data snippet as written: the stub’s WeRun data for alice, decrypted with her session’s key', async () => {
    const doc = readFileSync('docs/api.md', 'utf8');
    const block = [...doc.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('/user/opendata'));
    expect(block, 'docs/api.md has the open-data snippet').toBeDefined();
    const port = new URL(dev.base).port;
    const commands = block!.split('\n').filter((line) => line && !line.startsWith('#')).join('\n').replaceAll('.local/dev-3000.env', `.local/dev-${port}.env`).replaceAll('http://localhost:3000', dev.base);
    const { body: session } = await login('alice.opendata');
    const out = execFileSync('bash', ['-c', commands], { env: { ...process.env, TOKEN: session.token }, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ stepInfoList: [{ timestamp: 1764806400, step: 8021 }] });
  });

  it('serves the example route of your own, GET /user/hello, to the signed-in user only', async () => {
    const { body: session } = await login('hal.1');
    const hello = (token?: string) => fetch(`${dev.base}/user/hello`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const greeted = await hello(session.token);
    expect(greeted.status).toBe(200);
    // The mini-program the session was opened from, as the authorizer hands it to every route.
    expect(await greeted.json()).toEqual({ message: 'Hello', userId: session.userId, appid: dev.env().WECHAT_APPID });
    const nickname = await fetch(`${dev.base}/user/profile`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ nickname: '丽塔' }),
    });
    expect(nickname.status).toBe(200);
    expect(await (await hello(session.token)).json()).toEqual({ message: 'Hello, 丽塔', userId: session.userId, appid: dev.env().WECHAT_APPID });
    expect((await hello()).status).toBe(401);
    expect((await hello('not-a-token')).status).toBe(403);
  });

  it('shows unionid on /user/me once WeChat has sent it', async () => {
    const token = await tokenFor('una.union1');
    expect(await (await me(token)).json()).toMatchObject({ unionid: expect.any(String) });
  });

  it('refuses a token with one character changed', async () => {
    const token = await tokenFor('alice.2');
    const tampered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    expect((await me(tampered)).status).toBe(403);
    expect((await me(token)).status).toBe(200);
  });

  it('refuses a request without a token (401) and one with another scheme or a malformed token (403)', async () => {
    const token = await tokenFor('alice.3');
    expect((await me()).status).toBe(401);
    expect((await me(token, 'Basic')).status).toBe(403);
    expect((await me('not-a-token')).status).toBe(403);
  });

  it('logout revokes the presented session and keeps the user’s others', async () => {
    const first = await tokenFor('bob.1');
    const second = await tokenFor('bob.2');
    const response = await logout(first);
    expect(response.status).toBe(204);
    expect((await me(first)).status).toBe(403);
    expect((await me(second)).status).toBe(200);
    expect((await logout(first)).status).toBe(403);
  });

  it('logout with {"all": true} refuses every other token of the user, and no one else’s', async () => {
    const tokens = [await tokenFor('carl.1'), await tokenFor('carl.2'), await tokenFor('carl.3')];
    const other = await tokenFor('dana.1');
    expect((await logout(tokens[0]!, { all: true })).status).toBe(204);
    for (const token of tokens) expect((await me(token)).status).toBe(403);
    expect((await me(other)).status).toBe(200);
  });

  it('rejects a malformed logout body with INVALID_REQUEST and keeps the session', async () => {
    const token = await tokenFor('erin.1');
    const response = await logout(token, { all: 'yes' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { code: 'INVALID_REQUEST', message: expect.any(String) } });
    expect((await me(token)).status).toBe(200);
  });

  it.each([{ everything: true }, { All: true }])('refuses the logout body %j with INVALID_REQUEST naming the key, and keeps the session', async (body) => {
    const token = await tokenFor(`frank.${Object.keys(body)[0]}`);
    const response = await logout(token, body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { code: 'INVALID_REQUEST', message: expect.stringContaining(`"${Object.keys(body)[0]}"`) } });
    expect((await me(token)).status).toBe(200);
  });

  it('says expiresIn 3, refuses an unused token after 3 s and keeps a token used every 1.5 s alive past 3 s', async () => {
    const idle = await login('fay.1');
    const busy = await login('fay.2');
    expect(idle.body.expiresIn).toBe(3);
    for (let i = 0; i < 3; i++) {
      await sleep(1500);
      expect((await me(busy.body.token)).status).toBe(200);
    }
    // 4.5 s after login: the busy token has outlived its first TTL; the idle one has not.
    expect((await me(idle.body.token)).status).toBe(403);
    expect((await me(busy.body.token)).status).toBe(200);
  }, 20_000);

  it('keeps no raw token anywhere in Redis, keys or values', async () => {
    const dump = await dumpRedis(raw);
    expect(dump).toContain('session:');
    expect(issued.length).toBeGreaterThan(5);
    for (const token of issued) expect(dump).not.toContain(token);
  });

  it('lets nothing through while Redis is down and recovers when it returns, without a restart', async () => {
    const before = await tokenFor('gus.1');
    await redis.stop();
    try {
      // The authorizer cannot check the token, so it throws: 500, not a deny that would
      // make the client drop a token whose session may be alive.
      expect((await me(before)).status).toBe(500);
      const started = Date.now();
      const { status, body } = await login('gus.2');
      expect(status).toBe(503);
      expect(body).toEqual({ error: { code: 'SERVICE_UNAVAILABLE', message: expect.any(String) } });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await redis.start();
    }
    // The restarted Redis is empty (no persistence): old sessions are gone, new ones work.
    const after = await login('gus.3');
    expect(after.status).toBe(200);
    expect((await me(after.body.token)).status).toBe(200);
    expect(dev.output()).toContain('session store unavailable: not authorizing');
  }, 30_000);

  it('never prints an issued token in the service log', () => {
    for (const token of issued) expect(dev.output()).not.toContain(token);
  });
});
