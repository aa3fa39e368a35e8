import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devEnvPath } from '../../local/env-file';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { startDevServer, type DevServer } from '../support/dev-server';
import { coldStart, redisCommand, useLocalStack } from '../support/local';

const OPERATOR = { userArn: 'arn:aws:sts::123456789012:assumed-role/support-console/alice', accountId: '123456789012', accessKey: 'ASIA000', callerId: 'AROA000:alice', userId: 'AROA000:alice', principalOrgId: null, cognitoIdentity: null };

/**
 * The admin API (docs/operators.md, "The admin API"): the operator's use cases behind AWS_IAM,
 * through the function against the local stack (API Gateway's verified caller in the event),
 * then through `npm run dev`, which checks SigV4 itself as API Gateway does.
 */
describe('The admin API, through its function (integration)', () => {
  const ctx = useLocalStack();
  const login = async (code: string) => bodyOf(await (await coldStart('login', ctx.env))(loginFrom('198.51.100.31', code))) as { token: string; userId: string };
  const allowed = async (token: string) => (await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${token}`))).isAuthorized as boolean;
  const admin = async (method: string, route: string, path: Record<string, string>, options: { body?: object; authorizer?: object | null } = {}) => {
    const rawPath = Object.entries(path).reduce((p, [k, v]) => p.replace(`{${k}}`, v), route);
    const event = httpEvent({
      routeKey: `${method} ${route}`,
      rawPath,
      pathParameters: path,
      ...(options.body ? { body: JSON.stringify(options.body) } : {}),
      requestContext: {
        ...httpEvent().requestContext,
        http: { ...httpEvent().requestContext.http, method, path: rawPath },
        ...(options.authorizer === null ? {} : { authorizer: options.authorizer ?? { iam: OPERATOR } }),
      } as never,
    });
    const answer = await (await coldStart('admin', ctx.env))(event);
    return { status: answer.statusCode, body: answer.body ? bodyOf(answer) : undefined, headers: answer.headers };
  };

  it('looks a user up, suspends them (every session ends, logins refused), lists and ends sessions, lifts it', async () => {
    const user = await login('ivy.1');
    const other = await login('ivy.2');
    expect(await admin('GET', '/admin/users/{id}', { id: user.userId })).toMatchObject({ status: 200, body: { userId: user.userId, status: { status: 'active' } } });
    const listed = await admin('GET', '/admin/users/{id}/sessions', { id: user.userId });
    expect(listed.body.sessions).toHaveLength(2);
    expect(JSON.stringify(listed.body)).not.toContain(user.token);

    const one = listed.body.sessions[0].id;
    expect((await admin('DELETE', '/admin/users/{id}/sessions/{session}', { id: user.userId, session: one })).status).toBe(204);
    expect(await admin('DELETE', '/admin/users/{id}/sessions/{session}', { id: user.userId, session: one })).toMatchObject({ status: 404, body: { error: { code: 'SESSION_NOT_FOUND' } } });
    expect((await admin('GET', '/admin/users/{id}/sessions', { id: user.userId })).body.sessions).toHaveLength(1);

    const until = new Date(Date.now() + 3_600_000).toISOString();
    expect(await admin('PUT', '/admin/users/{id}/suspension', { id: user.userId }, { body: { reason: 'chargeback', until } })).toMatchObject({ status: 200, body: { sessionsEnded: 1 } });
    expect(await allowed(user.token)).toBe(false);
    expect(await allowed(other.token)).toBe(false);
    const refused = bodyOf(await (await coldStart('login', ctx.env))(loginFrom('198.51.100.31', 'ivy.3')));
    expect(refused.error).toMatchObject({ code: 'ACCOUNT_SUSPENDED', until });
    expect((await admin('GET', '/admin/users/{id}', { id: user.userId })).body.status).toMatchObject({ status: 'suspended', reason: 'chargeback', until });

    expect((await admin('DELETE', '/admin/users/{id}/suspension', { id: user.userId })).status).toBe(204);
    expect((await login('ivy.4')).userId).toBe(user.userId);
    expect(await admin('DELETE', '/admin/users/{id}/sessions', { id: user.userId })).toMatchObject({ status: 200, body: { sessionsEnded: 1 } });
  });

  it('exports and deletes a suspended user, who cannot sign in to ask', async () => {
    const user = await login('jon.1');
    await admin('PUT', '/admin/users/{id}/suspension', { id: user.userId }, { body: { reason: 'asked by email to be forgotten' } });
    const exported = await admin('GET', '/admin/accounts/{id}/export', { id: user.userId });
    expect(exported).toMatchObject({ status: 200, body: { userId: user.userId, logins: [{ result: 'success' }] } });
    expect(exported.headers?.['content-disposition']).toBe(`attachment; filename="account-${user.userId}.json"`);
    expect((await admin('DELETE', '/admin/accounts/{id}', { id: user.userId })).status).toBe(204);
    // Nothing of the user is left in Redis: the suspension's mark went with the account.
    expect(await redisCommand(ctx.redis, 'GET', `wxlogin:suspended:${user.userId}`)).toBeNull();
    expect(await redisCommand(ctx.redis, 'EXISTS', `wxlogin:login-log:${user.userId}`)).toBe(0);
    expect(await admin('GET', '/admin/users/{id}', { id: user.userId })).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    // The person signs in again later: a new user, not suspended.
    const again = await login('jon.2');
    expect(again.userId).not.toBe(user.userId);
  });

  it('gives a session token nothing, nor a request without API Gateway’s IAM caller: 403 IAM_REQUIRED', async () => {
    const user = await login('kay.1');
    const { context } = await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${user.token}`));
    for (const authorizer of [{ lambda: context }, null, { iam: {} }, { iam: { userArn: '' } }]) {
      expect(await admin('GET', '/admin/users/{id}', { id: user.userId }, { authorizer })).toMatchObject({ status: 403, body: { error: { code: 'IAM_REQUIRED' } } });
      expect(await admin('DELETE', '/admin/accounts/{id}', { id: user.userId }, { authorizer })).toMatchObject({ status: 403 });
    }
    expect(await allowed(user.token)).toBe(true);
  });

  it('refuses what it cannot do with a clear 400 or 404', async () => {
    const user = await login('lee.1');
    expect(await admin('PUT', '/admin/users/{id}/suspension', { id: user.userId }, { body: {} })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST' } } });
    expect(await admin('PUT', '/admin/users/{id}/suspension', { id: user.userId }, { body: { reason: 'x', until: 'tomorrow' } })).toMatchObject({ status: 400 });
    expect(await admin('PUT', '/admin/users/{id}/suspension', { id: user.userId }, { body: { reason: 'x', Until: '2030-01-01T00:00:00Z' } })).toMatchObject({ status: 400 });
    expect(await admin('PUT', '/admin/users/{id}/suspension', { id: user.userId }, { body: { reason: 'x', until: '2020-01-01T00:00:00Z' } })).toMatchObject({ status: 400 });
    expect(await admin('PUT', '/admin/users/{id}/suspension', { id: 'not-a-user' }, { body: { reason: 'x' } })).toMatchObject({ status: 400 });
    expect(await admin('PUT', '/admin/users/{id}/suspension', { id: '01KAXZZZZZZZZZZZZZZZZZZZZZ' }, { body: { reason: 'x' } })).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(await admin('GET', '/admin/users/{id}', { id: '13999999999' })).toMatchObject({ status: 404 });
    expect(await admin('DELETE', '/admin/users/{id}/sessions/{session}', { id: user.userId, session: 'short' })).toMatchObject({ status: 400 });
    expect(await admin('DELETE', '/admin/users/{id}/sessions', { id: '01KAXZZZZZZZZZZZZZZZZZZZZZ' })).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    for (const until of ['Jan 5 2031', '2031-01-31T00:00:00', '+275760-09-13T00:00:00.000Z']) {
      expect(await admin('PUT', '/admin/users/{id}/suspension', { id: user.userId }, { body: { reason: 'x', until } }), until).toMatchObject({ status: 400, body: { error: { code: 'INVALID_REQUEST' } } });
    }
    expect(await admin('PUT', '/admin/users/{id}/suspension', { id: user.userId }, { body: { reason: 'two\nlines' } })).toMatchObject({ status: 400 });
  });
});

describe('The admin API through npm run dev: SigV4 checked as API Gateway checks it (integration)', () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDevServer();
  }, 120_000);
  afterAll(async () => {
    await dev?.kill();
  });
  const login = async (code: string) =>
    (await (await fetch(`${dev.base}/user/wechatlogin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) })).json()) as { token: string; userId: string };

  it('runs docs/operators.md’s admin snippet as written: a signed lookup, then a signed suspension', async () => {
    const user = await login('max.1');
    const doc = readFileSync('docs/operators.md', 'utf8');
    const block = [...doc.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('--aws-sigv4'));
    expect(block, 'docs/operators.md has the admin API snippet').toBeDefined();
    const port = new URL(dev.base).port;
    const commands = block!.replaceAll('.local/dev-3000.env', devEnvPath(Number(port))).replaceAll('http://localhost:3000', dev.base);
    const out = execFileSync('bash', ['-c', commands], { env: { ...process.env, USER_ID: user.userId }, encoding: 'utf8' });
    const [shown, suspended] = out.trim().split('\n').map((line) => JSON.parse(line));
    expect(shown).toMatchObject({ userId: user.userId, status: { status: 'active' } });
    expect(suspended).toMatchObject({ sessionsEnded: 1 });
    const me = await fetch(`${dev.base}/user/me`, { headers: { authorization: `Bearer ${user.token}` } });
    expect(me.status).toBe(403);
  });

  it('answers 403 {"message":"Forbidden"} without running the function for a session token, no signature, a wrong key, or a forged authorizer header', async () => {
    const user = await login('ned.1');
    const url = `${dev.base}/admin/users/${user.userId}`;
    const curl = (...args: string[]) => execFileSync('curl', ['-s', '-w', '\\n%{http_code}', ...args, url], { encoding: 'utf8' }).trim().split('\n');
    const forbidden = ['{"message":"Forbidden"}', '403'];
    expect(curl('-H', `authorization: Bearer ${user.token}`)).toEqual(forbidden);
    expect(curl()).toEqual(forbidden);
    expect(curl('--aws-sigv4', 'aws:amz:us-east-1:execute-api', '--user', 'local:not-the-secret')).toEqual(forbidden);
    expect(curl('--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', 'local:local')).toEqual(forbidden);
    expect(curl('--aws-sigv4', 'aws:amz:eu-west-1:execute-api', '--user', 'local:local')).toEqual(forbidden);
    // serverless offline's own override header would otherwise hand the function any authorizer it names.
    expect(curl('-H', `sls-offline-authorizer-override: ${JSON.stringify({ iam: OPERATOR })}`)).toEqual(forbidden);
    const [body, status] = curl('--aws-sigv4', 'aws:amz:us-east-1:execute-api', '--user', 'local:local');
    expect(status).toBe('200');
    expect(JSON.parse(body!)).toMatchObject({ userId: user.userId });
    // Nor does the override header stand in for the session authorizer's answer on a user route.
    const other = await login('ned.2');
    const me = await fetch(`${dev.base}/user/me`, { headers: { authorization: `Bearer ${other.token}`, 'sls-offline-authorizer-override': JSON.stringify({ lambda: { sessionId: 'x', userId: user.userId, openid: 'o' } }) } });
    expect(((await me.json()) as { userId: string }).userId).toBe(other.userId);
  });
});
