import { describe, expect, it } from 'vitest';
import { hashToken } from '../../lib/crypto';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { exited, runScript } from '../support/dev-server';
import { coldStart, redisCommand, useLocalStack } from '../support/local';

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN';
const ANDROID = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.44.2502(0x28002C51) WeChat/arm64 Weixin';

/**
 * The user's own sessions (docs/api.md, "GET /user/sessions"), the cap on them and the login
 * log (docs/operators.md), through the functions against the local stack, the cap set to 3.
 */
describe('The user’s sessions, their cap and the login log (integration)', () => {
  const ctx = useLocalStack({ MAX_SESSIONS_PER_USER: '3' });
  const login = async (code: string, options: { ip?: string; agent?: string } = {}) => {
    const event = loginFrom(options.ip ?? '198.51.100.77', code);
    if (options.agent) event.headers = { ...event.headers, 'user-agent': options.agent };
    const answer = await (await coldStart('login', ctx.env))(event);
    return { status: answer.statusCode, body: bodyOf(answer) };
  };
  const context = async (token: string) => (await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${token}`))) as { isAuthorized: boolean; context: Record<string, string> };
  const asUser = async (token: string, method: 'GET' | 'DELETE', id?: string) =>
    httpEvent({
      routeKey: id ? `${method} /user/sessions/{id}` : `${method} /user/sessions`,
      rawPath: id ? `/user/sessions/${id}` : '/user/sessions',
      ...(id ? { pathParameters: { id } } : {}),
      requestContext: { ...httpEvent().requestContext, http: { ...httpEvent().requestContext.http, method }, authorizer: { lambda: (await context(token)).context } } as never,
    });
  const sessions = async (token: string, method: 'GET' | 'DELETE' = 'GET', id?: string) => {
    const answer = await (await coldStart('sessions', ctx.env))(await asUser(token, method, id));
    return { status: answer.statusCode, body: answer.body ? bodyOf(answer) : undefined };
  };
  const users = async (...args: string[]) => {
    const run = runScript('scripts/users.ts', ctx.env, args);
    return { code: await exited(run.child), output: run.output() };
  };

  it('lists the user’s live sessions with a public id, times, app, masked network and agent, naming the caller’s; never a token or its hash', async () => {
    const phone = await login('ada.1', { ip: '198.51.100.77', agent: IPHONE });
    const tablet = await login('ada.2', { ip: '2001:db8:abcd:12:1::7', agent: ANDROID });
    const listed = await sessions(tablet.body.token);
    expect(listed.status).toBe(200);
    expect(listed.body.sessions).toHaveLength(2);
    const [newest, oldest] = listed.body.sessions;
    expect(newest).toMatchObject({ current: true, appid: ctx.env.WECHAT_APPID, network: '2001:db8:abcd::/48', agent: 'Android 14, WeChat 8.0.44' });
    expect(oldest).toMatchObject({ current: false, network: '198.51.100.0/24', agent: 'iOS 17.1, WeChat 8.0.47' });
    for (const session of listed.body.sessions) {
      expect(session.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Date.parse(session.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(session.createdAt));
    }
    const text = JSON.stringify(listed.body);
    for (const secret of [phone.body.token, tablet.body.token, hashToken(phone.body.token), hashToken(tablet.body.token), '198.51.100.77']) expect(text).not.toContain(secret);
  });

  it('ends one session by its id ("sign out that phone"): its token is refused, the others live; the id again, or another user’s, is 404 SESSION_NOT_FOUND', async () => {
    const phone = await login('bea.1', { agent: IPHONE });
    const laptop = await login('bea.2');
    const other = await login('cal.1');
    const phoneId = (await sessions(laptop.body.token)).body.sessions.find((s: { current: boolean }) => !s.current).id;
    const othersId = (await sessions(other.body.token)).body.sessions[0].id;

    expect(await sessions(other.body.token, 'DELETE', phoneId)).toMatchObject({ status: 404, body: { error: { code: 'SESSION_NOT_FOUND' } } });
    expect((await context(phone.body.token)).isAuthorized).toBe(true);
    expect(await sessions(laptop.body.token, 'DELETE', othersId)).toMatchObject({ status: 404 });
    expect((await context(other.body.token)).isAuthorized).toBe(true);

    expect((await sessions(laptop.body.token, 'DELETE', phoneId)).status).toBe(204);
    expect((await context(phone.body.token)).isAuthorized).toBe(false);
    expect((await context(laptop.body.token)).isAuthorized).toBe(true);
    expect((await sessions(laptop.body.token)).body.sessions).toHaveLength(1);
    expect(await sessions(laptop.body.token, 'DELETE', phoneId)).toMatchObject({ status: 404, body: { error: { code: 'SESSION_NOT_FOUND' } } });
    expect(await sessions(laptop.body.token, 'DELETE', 'not an id')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST' } } });
  });

  it('caps the user’s live sessions: a login past the cap ends the least recently used, never the one just opened', async () => {
    const first = await login('dot.1');
    const second = await login('dot.2');
    const third = await login('dot.3');
    // The first is used now, so the second is the least recently used when the fourth arrives.
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await context(first.body.token)).isAuthorized).toBe(true);
    const fourth = await login('dot.4');
    const alive = async () => Promise.all([first, second, third, fourth].map(async (s) => (await context(s.body.token)).isAuthorized));
    expect(await alive()).toEqual([true, false, true, true]);
    const fifth = await login('dot.5');
    expect((await context(fifth.body.token)).isAuthorized).toBe(true);
    expect((await alive()).filter(Boolean)).toHaveLength(2);
    expect(await redisCommand(ctx.redis, 'ZCARD', `wxlogin:user-sessions:${first.body.userId}`)).toBe(3);
  });

  it('logs each login that reaches the user, success and ACCOUNT_SUSPENDED, in the export and the operator’s show; the account’s deletion removes it', async () => {
    const first = await login('eve.1', { agent: IPHONE });
    await login('eve.2');
    expect((await users('suspend', first.body.userId, '--reason', 'abuse')).code).toBe(0);
    expect((await login('eve.3', { agent: ANDROID })).status).toBe(403);
    expect((await users('unsuspend', first.body.userId)).code).toBe(0);
    const back = await login('eve.4');

    const shown = JSON.parse((await users('show', first.body.userId)).output);
    expect(shown.logins.map((entry: { result: string }) => entry.result)).toEqual(['success', 'ACCOUNT_SUSPENDED', 'success', 'success']);
    expect(shown.logins[1]).toMatchObject({ appid: ctx.env.WECHAT_APPID, network: '198.51.100.0/24', agent: 'Android 14, WeChat 8.0.44' });
    expect(shown.logins[1].session).toBeUndefined();
    expect(shown.logins[3]).toMatchObject({ agent: 'iOS 17.1, WeChat 8.0.47', session: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });

    const exportEvent = httpEvent({ requestContext: { ...httpEvent().requestContext, authorizer: { lambda: (await context(back.body.token)).context } } as never });
    const exported = bodyOf(await (await coldStart('export-account', ctx.env))(exportEvent));
    expect(exported.logins).toEqual(shown.logins);
    expect(exported.logins[0].session).toBe(exported.sessions.find((s: { current: boolean }) => s.current).id);

    const key = `wxlogin:login-log:${first.body.userId}`;
    expect(await redisCommand(ctx.redis, 'ZCARD', key)).toBe(4);
    const ttl = Number(await redisCommand(ctx.redis, 'TTL', key));
    expect(ttl).toBeGreaterThan(89 * 86_400);
    expect(ttl).toBeLessThanOrEqual(90 * 86_400);
    const deleteEvent = httpEvent({
      body: JSON.stringify({ code: 'eve.5' }),
      requestContext: { ...httpEvent().requestContext, authorizer: { lambda: (await context(back.body.token)).context } } as never,
    });
    expect((await (await coldStart('delete-account', ctx.env))(deleteEvent)).statusCode).toBe(204);
    expect(await redisCommand(ctx.redis, 'EXISTS', key)).toBe(0);
  });
});
