import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../support/dev-server';

/**
 * A session-store outage through `npm run dev`: the dev stack's own redis-server is paused
 * with SIGSTOP (connections stay open and every request hangs, as in a network partition) and
 * resumed with SIGCONT. The authorizer cannot verify a token meanwhile, so it throws and the
 * API answers 500, as API Gateway does; the tokens must survive it.
 */
describe('A Redis outage through npm run dev (integration)', () => {
  let dev: DevServer;
  let paused = false;

  const pauseRedis = () => {
    process.kill(dev.redisPid(), 'SIGSTOP');
    paused = true;
  };
  const resumeRedis = () => {
    if (!paused) return;
    process.kill(dev.redisPid(), 'SIGCONT');
    paused = false;
  };

  beforeAll(async () => {
    // A short Redis time limit keeps each refused request short while Redis is paused.
    dev = await startDevServer({ REDIS_TIMEOUT_MS: '1000' });
  }, 120_000);

  afterAll(async () => {
    // Never leave a stopped redis-server behind, whatever failed.
    if (dev) resumeRedis();
    await dev?.kill();
  });

  async function tokenFor(code: string): Promise<string> {
    const response = await fetch(`${dev.base}/user/wechatlogin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { token: string }).token;
  }
  const me = (token?: string) => fetch(`${dev.base}/user/me`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  it('answers 500 (the authorizer threw), not 401 or 403, for a valid token while Redis is paused; the same token works after', async () => {
    const token = await tokenFor('olga.1');
    expect((await me(token)).status).toBe(200);

    pauseRedis();
    try {
      const during = await me(token);
      expect(during.status).toBe(500);
      expect(await during.json()).toEqual({ message: 'Internal Server Error' });
      // Refusals that need no store keep their statuses.
      expect((await me()).status).toBe(401);
      expect((await me('not-a-token')).status).toBe(403);
    } finally {
      resumeRedis();
    }

    expect((await me(token)).status).toBe(200);
    expect(dev.output()).toContain('session store unavailable: not authorizing');
  });
});
