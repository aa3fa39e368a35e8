import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { exited, runScript } from '../support/dev-server';
import { coldStart, useLocalStack } from '../support/local';

/**
 * An operator's suspension (docs/operators.md, "Suspending a user"), through the CLI against
 * the local stack: no sign-in through any identity while it stands, every session ended at once,
 * and the next login in once it is lifted or its end time passes.
 */
describe('Suspending a user (integration)', () => {
  const ctx = useLocalStack();
  const mini2 = () => ctx.env.WECHAT_APPID_MINI2!;
  const users = async (...args: string[]) => {
    const run = runScript('scripts/users.ts', ctx.env, args);
    return { code: await exited(run.child), output: run.output() };
  };
  const login = async (code: string, appid?: string, proof?: string) => {
    const event = loginFrom('198.51.100.90', code);
    event.body = JSON.stringify({ code, ...(appid ? { appid } : {}) });
    if (proof) event.headers = { ...event.headers, 'x-login-proof': proof };
    const answer = await (await coldStart('login', ctx.env))(event);
    return { status: answer.statusCode, body: bodyOf(answer) };
  };
  const allowed = async (token: string) => (await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${token}`))).isAuthorized as boolean;

  it('refuses every identity of a suspended user with 403 ACCOUNT_SUSPENDED and the end time, never the reason, after ending every session; lifted, the next login is in', async () => {
    const proof = randomBytes(32).toString('base64url');
    const first = await login('tom.union1', undefined, proof);
    const second = await login('tom.union2', mini2());
    const until = new Date(Date.now() + 3_600_000);
    const suspended = await users('suspend', first.body.userId, '--reason', 'chargeback fraud', '--until', until.toISOString());
    expect(suspended.code, suspended.output).toBe(0);
    expect(suspended.output).toContain(`suspended user ${first.body.userId} until ${until.toISOString()}: 2 session(s) ended`);
    expect(await allowed(first.body.token)).toBe(false);
    expect(await allowed(second.body.token)).toBe(false);

    for (const [code, appid] of [['tom.union3', undefined], ['tom.union4', mini2()]] as const) {
      const refused = await login(code, appid);
      expect(refused).toMatchObject({ status: 403, body: { error: { code: 'ACCOUNT_SUSPENDED', until: until.toISOString() } } });
      expect(JSON.stringify(refused.body)).not.toContain('chargeback');
    }
    // The code of a session the suspension ended, replayed by its client: the same answer, never the dead token.
    expect(await login('tom.union1', undefined, proof)).toMatchObject({ status: 403, body: { error: { code: 'ACCOUNT_SUSPENDED' } } });

    const shown = await users('show', first.body.userId);
    expect(JSON.parse(shown.output)).toMatchObject({ userId: first.body.userId, status: { status: 'suspended', reason: 'chargeback fraud', until: until.toISOString() }, sessions: [] });
    expect(JSON.parse(shown.output).identities).toHaveLength(2);

    // A refused login through an app the user never used joins nothing.
    const web = async (code: string) => {
      const event = loginFrom('198.51.100.90', code);
      event.rawPath = '/user/wechatlogin/web';
      return (await (await coldStart('login', ctx.env))(event)).statusCode;
    };
    expect(await web('tom.userinfo.union6')).toBe(403);
    expect((await users('unsuspend', first.body.userId)).code).toBe(0);
    expect(JSON.parse((await users('show', first.body.userId)).output).identities, 'the refused app did not join').toHaveLength(2);
    const back = await login('tom.union5', mini2());
    expect(back).toMatchObject({ status: 200, body: { userId: first.body.userId, isNewUser: false } });
    // The refused logins counted nothing: 2 before, this one.
    expect(JSON.parse((await users('show', first.body.userId)).output)).toMatchObject({ status: { status: 'active' } });
  });

  it('lifts itself when its end time passes', async () => {
    const user = await login('uma.1');
    // Far enough ahead for the CLI to start on a busy machine, then waited out.
    const until = Date.now() + 6000;
    const suspended = await users('suspend', user.body.userId, '--reason', 'cooling off', '--until', new Date(until).toISOString());
    expect(suspended.code, suspended.output).toBe(0);
    expect((await login('uma.2')).status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, until - Date.now() + 300));
    expect(await login('uma.3')).toMatchObject({ status: 200, body: { userId: user.body.userId } });
  });

  it('finds a user by phone number or openid, and refuses what it cannot do in one line', async () => {
    const user = await login('val.1');
    const context = (await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${user.body.token}`))).context;
    await (await coldStart('phone', ctx.env))(httpEvent({ body: JSON.stringify({ code: '13600136001.val' }), requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never }));
    expect(JSON.parse((await users('show', '13600136001')).output)).toMatchObject({ userId: user.body.userId, phone: '136****6001' });
    expect(JSON.parse((await users('show', context.openid)).output)).toMatchObject({ userId: user.body.userId });
    expect(await users('show', '13600136999')).toMatchObject({ code: 1, output: expect.stringContaining('no user for 13600136999') });
    expect(await users('suspend', user.body.userId)).toMatchObject({ code: 2, output: expect.stringContaining('suspend needs --reason') });
    expect(await users('suspend', user.body.userId, '--reason', 'x', '--until', 'tomorrow')).toMatchObject({ code: 2, output: expect.stringContaining('--until must be an ISO time') });
    expect(await users('suspend', user.body.userId, '--reason', 'x', '--until', '2020-01-01T00:00:00Z')).toMatchObject({ code: 1, output: expect.stringContaining('must be in the future') });
  });
});
