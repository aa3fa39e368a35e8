import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../lib/adapters/dynamodb';
import { hashToken } from '../../lib/crypto';
import { FIELDS, sessionKeys } from '../../lib/adapters/redis-sessions';
import { stubOpenid, stubUnionid } from '../../local/wechat-stub';
import { authorizationEvent, signPush } from '../../local/wechat-push';
import { authorizerEvent, bodyOf, httpEvent } from '../support/events';
import { coldStart, dumpRedis, redisCommand, useLocalStack } from '../support/local';
import { capturedStdout } from '../support/log-capture';
import { IMAGES, uploadEvent } from '../support/multipart';

/**
 * The same users from a 公众号's H5 pages and from the App (docs/identities.md): POST
 * /user/wechatlogin/web and /app, through the login function against the local stack, whose
 * stub serves sns/oauth2/access_token for the 公众号 and the App of its open platform.
 */
describe('Logins from a 公众号 page and from the App (integration)', () => {
  const ctx = useLocalStack({ LOG_LEVEL: 'debug' });
  const printed = capturedStdout();
  const web = () => ctx.env.WECHAT_APPID_WEB!;
  const app = () => ctx.env.WECHAT_APPID_APP!;
  const dynamo = () => createDynamoClient({ endpoint: ctx.env.DYNAMODB_ENDPOINT, region: ctx.env.AWS_REGION, timeoutMs: 2000 });
  const row = async (openid: string) => (await dynamo().send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: openid } }, ConsistentRead: true }))).Item;
  const claim = async (unionid: string) => (await dynamo().send(new GetItemCommand({ TableName: ctx.env.UNIONIDS_TABLE, Key: { unionid: { S: unionid } }, ConsistentRead: true }))).Item;
  const loginAt = async (path: '' | '/web' | '/app', code: string, appid?: string) => {
    const answer = await (await coldStart('login', ctx.env))(httpEvent({ rawPath: `/user/wechatlogin${path}`, routeKey: `POST /user/wechatlogin${path}`, body: JSON.stringify({ code, ...(appid ? { appid } : {}) }) }));
    return { status: answer.statusCode, body: bodyOf(answer) };
  };
  const asUser = async (token: string, extra: Record<string, unknown> = {}) => {
    const { context } = await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${token}`));
    return httpEvent({ ...extra, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never });
  };

  it('signs one person in as one user from the mini-program, the 公众号’s page (snsapi_userinfo) and the App', async () => {
    const inMini = await loginAt('', 'lea.union1');
    const onPage = await loginAt('/web', 'lea.userinfo.union2');
    const inApp = await loginAt('/app', 'lea.union3');
    expect(onPage).toMatchObject({ status: 200, body: { userId: inMini.body.userId, isNewUser: false, token: expect.any(String), expiresIn: expect.any(Number) } });
    expect(inApp).toMatchObject({ status: 200, body: { userId: inMini.body.userId, isNewUser: false } });
    const me = bodyOf(await (await coldStart('me', ctx.env))(await asUser(inApp.body.token)));
    expect(me.apps).toEqual(expect.arrayContaining([{ appid: web(), kind: 'officialAccount' }, { appid: app(), kind: 'mobileApp' }, { appid: ctx.env.WECHAT_APPID, kind: 'miniprogram' }]));
    // An OAuth session has no session_key, and WeChat's user access_token and refresh_token are kept nowhere.
    const key = sessionKeys('wxlogin:').session(hashToken(onPage.body.token));
    expect(await redisCommand(ctx.redis, 'HGET', key, FIELDS.sealedSessionKey)).toBeNull();
    expect(await redisCommand(ctx.redis, 'HGET', key, FIELDS.appid)).toBe(web());
    expect(ctx.stack.wechat.stats.oauthTokens.length).toBeGreaterThan(0);
    const redis = await dumpRedis(ctx.redis);
    for (const token of ctx.stack.wechat.stats.oauthTokens) {
      expect(redis).not.toContain(token);
      expect(printed.join('\n')).not.toContain(token);
    }
  });

  it('makes a returning login through either route 1 WeChat, 1 DynamoDB and at most 2 Redis requests', async () => {
    await loginAt('', 'sid.union1');
    await loginAt('/web', 'sid.userinfo.union2');
    await loginAt('/app', 'sid.union3');
    const counts = () => ({ wechat: ctx.stack.wechat.stats.calls, dynamodb: ctx.stack.dynamo.stats.requests, redis: ctx.stack.gateway.stats.requests });
    // A warm container: its initialisation (which opens its connections) is behind it.
    const login = await coldStart('login', ctx.env);
    await login(httpEvent({ body: JSON.stringify({ code: 'sid.union0' }) }));
    for (const [path, code] of [['/web', 'sid.userinfo.union4'], ['/app', 'sid.union5']] as const) {
      const before = counts();
      const answer = await login(httpEvent({ rawPath: `/user/wechatlogin${path}`, routeKey: `POST /user/wechatlogin${path}`, body: JSON.stringify({ code }) }));
      expect(answer.statusCode).toBe(200);
      const after = counts();
      expect({ wechat: after.wechat - before.wechat, dynamodb: after.dynamodb - before.dynamodb }).toEqual({ wechat: 1, dynamodb: 1 });
      expect(after.redis - before.redis).toBeLessThanOrEqual(2);
    }
  });

  it('links a snsapi_base login (no unionid) only through an identity seen before, and otherwise starts a user', async () => {
    const first = await loginAt('/web', 'max.base1');
    expect(first.body).toMatchObject({ isNewUser: true });
    // The same person's userinfo login on the same 公众号 is the same identity; it brings the unionid.
    expect((await loginAt('/web', 'max.userinfo.union2')).body).toMatchObject({ userId: first.body.userId, isNewUser: false });
    expect((await loginAt('/web', 'max.base3')).body).toMatchObject({ userId: first.body.userId });
    expect((await loginAt('', 'max.union4')).body).toMatchObject({ userId: first.body.userId, isNewUser: false });
  });

  it('refuses a snapshot page’s visitor with 403 SNAPSHOT_USER before any lookup or claim: nothing is made for them', async () => {
    const answer = await loginAt('/web', 'snapshot.nia.userinfo.union1');
    expect(answer).toMatchObject({ status: 403, body: { error: { code: 'SNAPSHOT_USER' } } });
    expect(await row(stubOpenid(web(), 'snapshot|nia'))).toBeUndefined();
    expect(await claim(stubUnionid('snapshot|nia'))).toBeUndefined();
    // The real nia, once she taps 使用完整服务, signs in.
    expect((await loginAt('/web', 'nia.userinfo.union2')).body).toMatchObject({ isNewUser: true });
  });

  it('maps the exchange’s errcodes into the error table: a spent code, a blocked user, a busy WeChat', async () => {
    expect(await loginAt('/web', 'errcode.40029')).toMatchObject({ status: 401, body: { error: { code: 'INVALID_CODE' } } });
    expect(await loginAt('/app', 'errcode.40163')).toMatchObject({ status: 401, body: { error: { code: 'INVALID_CODE' } } });
    expect(await loginAt('/web', 'errcode.40226')).toMatchObject({ status: 403, body: { error: { code: 'USER_BLOCKED' } } });
    expect(await loginAt('/app', 'errcode.-1')).toMatchObject({ status: 503, body: { error: { code: 'WECHAT_UNAVAILABLE' } } });
    // A code used once is spent.
    await loginAt('/app', 'oli.union1');
    expect(await loginAt('/app', 'oli.union1')).toMatchObject({ status: 401 });
    // A code is one app's: the same text at another app is that app's own exchange, never the
    // first app's session replayed.
    const proof = 'p'.repeat(43);
    const at = async (path: '' | '/web' | '/app', code: string) => {
      const event = httpEvent({ rawPath: `/user/wechatlogin${path}`, routeKey: `POST /user/wechatlogin${path}`, body: JSON.stringify({ code }) });
      event.headers = { ...event.headers, 'x-login-proof': proof };
      event.requestContext.http.sourceIp = '198.51.100.66';
      return bodyOf(await (await coldStart('login', ctx.env))(event));
    };
    const inMini = await at('', 'ola.union9');
    const inApp = await at('/app', 'ola.union9');
    expect(inApp.token).not.toBe(inMini.token);
    const { context } = await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${inApp.token}`));
    expect(context.appid).toBe(app());
  });

  it('answers 400 UNKNOWN_APP for an AppID of another kind or none served, before WeChat is asked', async () => {
    const calls = ctx.stack.wechat.stats.calls;
    expect(await loginAt('/web', 'pam.base1', app())).toMatchObject({ status: 400, body: { error: { code: 'UNKNOWN_APP' } } });
    expect(await loginAt('/app', 'pam.union1', ctx.env.WECHAT_APPID)).toMatchObject({ status: 400, body: { error: { code: 'UNKNOWN_APP' } } });
    expect(await loginAt('', 'pam.1', web())).toMatchObject({ status: 400, body: { error: { code: 'UNKNOWN_APP' } } });
    expect(ctx.stack.wechat.stats.calls).toBe(calls);
    // Named, the one configured app of the kind answers as without it.
    expect(await loginAt('/web', 'pam.base2', web())).toMatchObject({ status: 200 });
  });

  it('says what each route does for a 公众号’s or an App’s session: no phone or nickname (403 MINIPROGRAM_SESSION_REQUIRED), an avatar, and deletion with a fresh code of its own kind', async () => {
    const { body: session } = await loginAt('/web', 'quin.userinfo.union1');
    const phone = await (await coldStart('phone', ctx.env))(await asUser(session.token, { body: JSON.stringify({ code: '13800138777.quin' }) }));
    expect(phone.statusCode).toBe(403);
    expect(bodyOf(phone).error.code).toBe('MINIPROGRAM_SESSION_REQUIRED');
    const nickname = await (await coldStart('profile', ctx.env))(await asUser(session.token, { body: JSON.stringify({ nickname: 'Quin' }) }));
    expect(bodyOf(nickname).error.code).toBe('MINIPROGRAM_SESSION_REQUIRED');
    const upload = await uploadEvent(IMAGES.png);
    expect((await (await coldStart('avatar', ctx.env))(await asUser(session.token, upload))).statusCode).toBe(200);
    // A mini-program's code is not this session's kind: exchanged at the 公众号, its openid is another.
    const deleteAccount = await coldStart('delete-account', ctx.env);
    expect(bodyOf(await deleteAccount(await asUser(session.token, { body: JSON.stringify({ code: 'rex.userinfo.union1' }) }))).error.code).toBe('REAUTH_FAILED');
    expect((await deleteAccount(await asUser(session.token, { body: JSON.stringify({ code: 'quin.base2' }) }))).statusCode).toBe(204);
    expect(await row(stubOpenid(web(), 'quin'))).toBeUndefined();
  });

  it('takes the 公众号’s pushes in XML at /wechat/events/<its AppID>, by its RevokeInfo table (205: the profile), and an App’s 301 ends the sessions opened through the App', async () => {
    const events = await coldStart('wechat-events', ctx.env);
    const push = (appid: string, message: Record<string, unknown>) => {
      const signed = signPush({ token: ctx.env[`WECHAT_PUSH_TOKEN_${appid}`]!, encodingAesKey: ctx.env[`WECHAT_PUSH_AES_KEY_${appid}`]!, appId: appid }, message, { xml: true });
      return events(httpEvent({ routeKey: 'POST /wechat/events/{appid}', rawPath: `/wechat/events/${appid}`, pathParameters: { appid }, queryStringParameters: signed.query, body: signed.body }));
    };
    const { body: inMini } = await loginAt('', 'ria.union1');
    expect((await (await coldStart('profile', ctx.env))(await asUser(inMini.token, { body: JSON.stringify({ nickname: 'Ria' }) }))).statusCode).toBe(200);
    const { body: onPage } = await loginAt('/web', 'ria.userinfo.union2');
    const { body: inApp } = await loginAt('/app', 'ria.union3');
    // 202 (发票信息) is nothing kept here; 205 (昵称和头像) is the user's profile.
    expect((await push(web(), authorizationEvent('user_authorization_revoke', stubOpenid(web(), 'ria'), web(), { revokeInfo: '202' }))).body).toBe('success');
    expect(await row(stubOpenid(ctx.env.WECHAT_APPID!, 'ria'))).toMatchObject({ nickname: { S: 'Ria' } });
    expect((await push(web(), authorizationEvent('user_authorization_revoke', stubOpenid(web(), 'ria'), web(), { revokeInfo: '205' }))).body).toBe('success');
    expect(await row(stubOpenid(ctx.env.WECHAT_APPID!, 'ria'))).not.toHaveProperty('nickname');
    // 301: the App's whole grant. Its session ends; the mini-program's and the page's stay.
    expect((await push(app(), authorizationEvent('user_authorization_revoke', stubOpenid(app(), 'ria'), app(), { revokeInfo: '301' }))).body).toBe('success');
    const authorize = await coldStart('authorizer', ctx.env);
    expect((await authorize(authorizerEvent(`Bearer ${inApp.token}`))).isAuthorized).toBe(false);
    expect((await authorize(authorizerEvent(`Bearer ${onPage.token}`))).isAuthorized).toBe(true);
    expect((await authorize(authorizerEvent(`Bearer ${inMini.token}`))).isAuthorized).toBe(true);
    // XML with a DOCTYPE is refused unread.
    const signed = signPush({ token: ctx.env[`WECHAT_PUSH_TOKEN_${web()}`]!, encodingAesKey: ctx.env[`WECHAT_PUSH_AES_KEY_${web()}`]!, appId: web() }, '<!DOCTYPE x [<!ENTITY e "boom">]><xml><MsgType>&e;</MsgType></xml>', { xml: true });
    const refused = await events(httpEvent({ routeKey: 'POST /wechat/events/{appid}', rawPath: `/wechat/events/${web()}`, pathParameters: { appid: web() }, queryStringParameters: signed.query, body: signed.body }));
    expect(refused.statusCode).toBe(400);
  });
});
