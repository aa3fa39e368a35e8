import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../support/dev-server';
import { fakeWx } from '../support/fake-wx';

const { createAuth } = createRequire(import.meta.url)('../../client/wechat-auth.js') as typeof import('../../client/wechat-auth');

/**
 * A session-store outage through `npm run dev`: the dev stack's own redis-server is paused
 * with SIGSTOP (connections stay open and every request hangs, as in a network partition) and
 * resumed with SIGCONT. The authorizer cannot verify a token meanwhile, so it throws and the
 * API answers 500, as API Gateway does; the tokens must survive it, and so must the clients'
 * hold on them.
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

  it('carries 5 signed-in client kits through a 10 s pause on their original tokens, with no extra wx.login', async () => {
    const PAUSE_MS = 10_000;
    const clients = Array.from({ length: 5 }, (_, i) => {
      let n = 0;
      const wx = fakeWx(() => `outage${i}.${++n}`);
      return { wx, auth: createAuth({ baseUrl: dev.base, wx }) };
    });
    await Promise.all(clients.map(({ auth }) => auth.login()));
    const before = clients.map(({ auth }) => auth.getToken());
    expect(new Set(before).size).toBe(5);

    // Each client calls /user/me in a loop, as pages of a mini-program would, until it has
    // had a 200 after Redis came back (or the time is up). A rejection is kept, not thrown:
    // a kit that drops its token would try wx.login mid-outage and reject.
    let resumedAt = Infinity;
    const deadline = Date.now() + PAUSE_MS + 15_000;
    const loops = clients.map(async ({ auth }) => {
      const outcomes: { at: number; status: number | string }[] = [];
      for (;;) {
        const outcome = await auth.request<{ userId: string }>({ url: '/user/me' }).then(
          (response) => response.statusCode,
          (err: { code?: string }) => `rejected ${err.code}`,
        );
        outcomes.push({ at: Date.now(), status: outcome });
        if ((outcome === 200 && outcomes.at(-1)!.at > resumedAt) || Date.now() > deadline) return outcomes;
      }
    });

    pauseRedis();
    try {
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    } finally {
      resumeRedis();
      resumedAt = Date.now();
    }
    const outcomes = await Promise.all(loops);

    for (const [i, { wx, auth }] of clients.entries()) {
      // Every request of the pause answered the gateway's 500 (no 401/403), and the client
      // never let go of its token: no wx.login, no other token sent, the same one stored.
      const sentToMe = wx.calls.requests.filter((r) => r.url.endsWith('/user/me'));
      expect(sentToMe.filter((r) => r.status === 500).length).toBeGreaterThan(0);
      expect(sentToMe.map((r) => r.status).filter((s) => s !== 200 && s !== 500)).toEqual([]);
      expect(new Set(sentToMe.map((r) => r.header.Authorization))).toEqual(new Set([`Bearer ${before[i]}`]));
      expect(outcomes[i]!.filter((o) => typeof o.status === 'string')).toEqual([]);
      expect(outcomes[i]!.at(-1)!.status).toBe(200);
      expect(wx.calls.login).toBe(1);
      expect(auth.getToken()).toBe(before[i]);
      expect((await auth.request({ url: '/user/me' })).statusCode).toBe(200);
    }
  }, 60_000);
});
