import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_PATTERN } from '../../lib/crypto';
import { exited, runScript, startDevServer, type DevServer } from '../support/dev-server';

/**
 * The README's commands, run as a developer runs them: `npm run dev` (serverless offline in
 * front of the local stack) and `npm run invoke:local`. One file, one after the other, since
 * both build into .esbuild/.
 */
describe('npm run dev (integration)', () => {
  const secret = randomBytes(16).toString('hex');
  let dev: DevServer;

  const login = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(`${dev.base}/user/wechatlogin`, { method: 'POST', headers, body });

  beforeAll(async () => {
    dev = await startDevServer({ WECHAT_SECRET: secret });
  }, 120_000);

  afterAll(async () => {
    await dev?.kill();
  });

  it('serves logins through serverless offline', async () => {
    const first = await login('{"code":"alice.1"}');
    const second = await login('{"code":"alice.2"}');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^application\/json/);
    const a = (await first.json()) as { token: string; userId: string };
    const b = (await second.json()) as { token: string; userId: string };
    expect(a).toMatchObject({ token: expect.stringMatching(TOKEN_PATTERN), expiresIn: 604800, isNewUser: true });
    expect(b).toMatchObject({ userId: a.userId, isNewUser: false });
    expect(b.token).not.toBe(a.token);
  });

  it('answers errors with the standard body and status', async () => {
    const bad = await login('{"code":');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: 'INVALID_REQUEST', message: expect.any(String) } });

    const quota = await login('{"code":"errcode.45011"}');
    expect(quota.status).toBe(429);
    expect(quota.headers.get('retry-after')).toBe('60');
    expect(await quota.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
  });

  it('never prints the AppSecret', () => {
    expect(dev.output()).not.toContain(secret);
  });

  it('stops everything it started on Ctrl-C', async () => {
    dev.child.kill('SIGINT');
    expect(await exited(dev.child)).toBe(0);
    await expect(login('{"code":"alice.9"}')).rejects.toThrow();
  });
});

describe('npm run invoke:local (integration)', () => {
  it('prints a 200 Lambda response with a token', async () => {
    const invoke = runScript('local/invoke.ts', {});
    expect(await exited(invoke.child)).toBe(0);
    const match = /"statusCode": 200[\s\S]*"body": "(\{.*\})"/.exec(invoke.output());
    expect(match, invoke.output()).not.toBeNull();
    const body = JSON.parse(JSON.parse(`"${match![1]}"`));
    expect(body).toMatchObject({ token: expect.stringMatching(TOKEN_PATTERN), isNewUser: true });
  }, 120_000);
});
