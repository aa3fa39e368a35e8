import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_PATTERN } from '../../lib/crypto';
import { devEnvPath, parseEnvFile } from '../../local/env-file';
import { freePort } from '../../local/serverless-cli';
import { exited, runScript, startDevServer, stopGroup, type DevServer } from '../support/dev-server';

/**
 * The commands of the README's quick start and docs/development.md, run as a developer runs
 * them: `npm run dev` (serverless offline in front of the local stack) and
 * `npm run invoke:local`, each building in its own
 * `.esbuild-local/<command>-<pid>` folder.
 */
describe('npm run dev (integration)', () => {
  const secret = randomBytes(16).toString('hex');
  const tokens: string[] = [];
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
    tokens.push(a.token, b.token);
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

  it('answers a code that makes WeChat hang for 20 s with a 5xx in under 10 s', async () => {
    const started = Date.now();
    const response = await login('{"code":"delay.20000.bob"}');
    expect(response.status).toBe(503);
    expect((await response.json()) as object).toMatchObject({ error: { code: 'WECHAT_UNAVAILABLE' } });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('answers docs/development.md\'s delay.5000.bob with 503 once WeChat\'s 3 s timeout passes', async () => {
    const started = Date.now();
    const response = await login('{"code":"delay.5000.bob"}');
    const elapsed = Date.now() - started;
    expect(response.status).toBe(503);
    expect((await response.json()) as object).toMatchObject({ error: { code: 'WECHAT_UNAVAILABLE' } });
    expect(elapsed).toBeGreaterThanOrEqual(3000);
    expect(elapsed).toBeLessThan(5000);
  });

  it('turns 20 parallel first logins of one user into one user', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => login(JSON.stringify({ code: `zoe.${i}` }))));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as { userId: string; isNewUser: boolean; token: string }[];
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(bodies.map((b) => b.userId)).size).toBe(1);
    expect(bodies.filter((b) => b.isNewUser)).toHaveLength(1);
    tokens.push(...bodies.map((b) => b.token));
  });

  it('keeps a login in flight while files outside the sources change (another run’s bundles)', async () => {
    // serverless-esbuild rebuilds when a watched file changes, and serverless offline then
    // terminates every Lambda worker, even one mid-request, which hung until the function's
    // time limit and was answered 200 {"errorMessage":"[504] - Lambda timeout."}. Only the
    // sources are watched: this is the file `npm run invoke:local` writes into its own folder.
    const probe = join('.esbuild-local', `watch-probe-${process.pid}`);
    const pending = login('{"code":"delay.2500.walt"}');
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      mkdirSync(join(probe, '.build', 'functions'), { recursive: true });
      writeFileSync(join(probe, '.build', 'functions', 'login.js'), '// a bundle, not a source\n');
      const response = await pending;
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ token: expect.stringMatching(TOKEN_PATTERN) });
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  });

  it('refuses a 1 MiB body with a 4xx', async () => {
    const response = await login(JSON.stringify({ code: 'abc', pad: 'x'.repeat(1024 * 1024) }));
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });

  it('never prints the AppSecret or an issued token', () => {
    expect(tokens.length).toBeGreaterThan(20);
    expect(dev.output()).not.toContain(secret);
    for (const token of tokens) expect(dev.output()).not.toContain(token);
  });

  it('writes its endpoints to .local/dev-<port>.env, which npm run revoke -- --env uses to end a session', async () => {
    const envFile = devEnvPath(Number(new URL(dev.base).port));
    expect(dev.output()).toContain(envFile);
    const env = parseEnvFile(readFileSync(envFile, 'utf8'));
    for (const key of ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'DYNAMODB_ENDPOINT', 'USERS_TABLE', 'PHONES_TABLE', 'WECHAT_API_BASE', 'WECHAT_APPID', 'WECHAT_PUSH_TOKEN', 'WECHAT_PUSH_AES_KEY', 'S3_ENDPOINT', 'AVATAR_BUCKET', 'PORT']) {
      expect(env[key], key).toBeTruthy();
    }
    expect(env.PORT).toBe(new URL(dev.base).port);
    expect(env).not.toHaveProperty('WECHAT_SECRET');
    // Nor the second mini-program's; its AppID is there for the scripts and the tests.
    expect(env.WECHAT_APPID_MINI2).toMatch(/^wx/);
    expect(Object.keys(env).filter((key) => key.startsWith('WECHAT_SECRET'))).toEqual([]);

    const { token, userId } = (await (await login('{"code":"rhea.1"}')).json()) as { token: string; userId: string };
    const me = () => fetch(`${dev.base}/user/me`, { headers: { authorization: `Bearer ${token}` } });
    expect((await me()).status).toBe(200);
    // Settings of the shell do not win over the file named with --env.
    const revoke = runScript('scripts/users.ts', { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9' }, ['revoke', '--env', envFile, '--user', userId]);
    expect(await exited(revoke.child), revoke.output()).toBe(0);
    expect(revoke.output()).toContain(`revoked 1 session(s) of user ${userId}`);
    expect((await me()).status).toBe(403);
  });

  it('merges two users with npm run users -- --env (docs/identities.md, "Merging users")', async () => {
    const envFile = devEnvPath(Number(new URL(dev.base).port));
    const from = (await (await login('{"code":"uma.1"}')).json()) as { token: string; userId: string };
    const into = (await (await login('{"code":"vic.1"}')).json()) as { token: string; userId: string };
    const merge = runScript('scripts/users.ts', {}, ['--env', envFile, 'merge', from.userId, into.userId]);
    expect(await exited(merge.child), merge.output()).toBe(0);
    expect(merge.output()).toContain(`merged user ${from.userId} into ${into.userId}: 1 identity moved, 1 session(s) ended`);
    const me = (token: string) => fetch(`${dev.base}/user/me`, { headers: { authorization: `Bearer ${token}` } });
    expect((await me(from.token)).status).toBe(403);
    expect((await me(into.token)).status).toBe(200);
    // Uma's next login is Vic's user.
    expect(await (await login('{"code":"uma.2"}')).json()).toMatchObject({ userId: into.userId, isNewUser: false });
  });

  it('refuses a second npm run dev on its port in one line, starting nothing', async () => {
    const port = new URL(dev.base).port;
    const envFile = devEnvPath(Number(port));
    const before = readFileSync(envFile, 'utf8');
    const second = runScript('local/dev.ts', { PORT: port });
    expect(await exited(second.child)).not.toBe(0);
    expect(second.output().trim()).toBe(`npm run dev: port ${port} is busy (another npm run dev?); pick another: PORT=${Number(port) + 1} npm run dev`);
    // The running stack's file is untouched.
    expect(readFileSync(envFile, 'utf8')).toBe(before);
  });

  it('runs `npx serverless invoke local` as typed against its stack, through its env file, and exits', async () => {
    // As docs/development.md shows it: the env file's values and the AppSecret npm run dev was
    // started with. osls's invoke local loads .js handlers only, and a failed load left the CLI
    // hanging (deploy/invoke-local.cjs); the time limit below is what catches a hang.
    const env = { ...parseEnvFile(readFileSync(devEnvPath(Number(new URL(dev.base).port)), 'utf8')), WECHAT_SECRET: secret };
    const child = spawn('npx', ['serverless', 'invoke', 'local', '--function', 'login', '--path', 'events/login.json'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await Promise.race([exited(child), new Promise((resolve) => setTimeout(() => resolve('still running after 90 s'), 90_000))]);
    await stopGroup(child);
    expect(code, output).toBe(0);
    const match = /"statusCode": 200[\s\S]*"body": "(\{.*\})"/.exec(output);
    expect(match, output).not.toBeNull();
    expect(JSON.parse(JSON.parse(`"${match![1]}"`))).toMatchObject({ token: expect.stringMatching(TOKEN_PATTERN) });
    expect(output).not.toContain(secret);
  }, 120_000);

  it('stops everything it started on Ctrl-C', async () => {
    dev.child.kill('SIGINT');
    expect(await exited(dev.child)).toBe(0);
    await expect(login('{"code":"alice.9"}')).rejects.toThrow();
    expect(existsSync(devEnvPath(Number(new URL(dev.base).port)))).toBe(false);
  });
});

describe('npm run revoke without settings (integration)', () => {
  it('exits 2 with one line naming the missing variable', async () => {
    const revoke = runScript('scripts/users.ts', { UPSTASH_REDIS_REST_URL: '', UPSTASH_REDIS_REST_TOKEN: '' }, ['revoke', '--user', '01KAXCL1000000000000000000']);
    expect(await exited(revoke.child)).toBe(2);
    const lines = revoke.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm run users: UPSTASH_REDIS_REST_URL is required, or give --env /);
  });
});

describe('npm run dev and npm run invoke:local on a machine without redis-server (integration)', () => {
  // A PATH with nothing on it: the scripts run under this Node by its path, as npm would run
  // them, and the first program they look for is redis-server.
  let emptyPath: string;
  beforeAll(() => {
    emptyPath = mkdtempSync(join(tmpdir(), 'wxlogin-no-redis-'));
  });
  afterAll(() => rmSync(emptyPath, { recursive: true, force: true }));

  it.each([
    ['npm run dev', 'local/dev.ts'],
    ['npm run invoke:local', 'local/invoke.ts'],
  ])('%s exits 1 with one line naming the install command or REDIS_URL, no stack trace', async (command, script) => {
    const run = runScript(script, { PATH: emptyPath, REDIS_URL: '', PORT: String(await freePort()) });
    expect(await exited(run.child)).toBe(1);
    const lines = run.output().trim().split('\n');
    expect(lines, run.output()).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${command}: redis-server is not installed`));
    expect(lines[0]).toContain('sudo apt-get install redis-server');
    expect(lines[0]).toContain('brew install redis');
    expect(lines[0]).toContain('REDIS_URL=redis://host:port');
  });

  it('says so in one line when REDIS_URL\'s Redis does not answer, without its password', async () => {
    const run = runScript('local/dev.ts', { REDIS_URL: `redis://:hunter2@127.0.0.1:${await freePort()}`, PORT: String(await freePort()) });
    expect(await exited(run.child)).toBe(1);
    const lines = run.output().trim().split('\n');
    expect(lines, run.output()).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm run dev: the Redis at REDIS_URL \(127\.0\.0\.1:\d+\) did not answer PING/);
    expect(run.output()).not.toContain('hunter2');
  }, 20_000);
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

  it('answers the warm-keeper\'s ping from events/warm-ping.json, as docs/performance.md shows', async () => {
    const invoke = runScript('local/invoke.ts', {}, ['--path', 'events/warm-ping.json']);
    expect(await exited(invoke.child)).toBe(0);
    expect(invoke.output()).toMatch(/"warm": true/);
    expect(invoke.output()).toMatch(/"WarmPing":1/);
    expect(invoke.output()).not.toMatch(/"Requests":/);
  }, 120_000);
});
