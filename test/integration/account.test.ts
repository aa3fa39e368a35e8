import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { authorizationEvent, signPush, type AuthorizationEvent } from '../../local/wechat-push';
import { stubOpenid } from '../../local/wechat-stub';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { coldStart, dumpRedis, useLocalStack, type Handler } from '../support/local';
import { IMAGES, uploadEvent } from '../support/multipart';
import { capturedStdout } from '../support/log-capture';

/**
 * The user's data rights through the functions, against the local stack: export, and deleting
 * the account (re-authenticated) with everything stored about the user.
 */
describe('Functions: account deletion and export (integration)', () => {
  const ctx = useLocalStack({ LOG_LEVEL: 'info' });
  const fns = {} as Record<'login' | 'me' | 'phone' | 'avatar' | 'profile' | 'delete-account' | 'export-account' | 'wechat-events', Handler>;
  let authorize: (event: unknown) => Promise<{ isAuthorized: boolean; context?: Record<string, string> }>;
  const printed = capturedStdout();

  beforeAll(async () => {
    for (const name of Object.keys({ login: 1, me: 1, phone: 1, avatar: 1, profile: 1, 'delete-account': 1, 'export-account': 1, 'wechat-events': 1 }) as (keyof typeof fns)[]) {
      fns[name] = await coldStart(name, ctx.env);
    }
    authorize = await coldStart('authorizer', ctx.env);
  });

  const ip = '198.51.100.62';
  const loginAs = async (code: string) => bodyOf(await fns.login(loginFrom(ip, code)));

  /** A user with everything the service can store: two sessions, a phone, an avatar, a nickname. */
  async function fullUser() {
    const name = `d${randomBytes(4).toString('hex')}`;
    const first = await loginAs(`${name}.1`);
    const second = await loginAs(`${name}.2`);
    const { context } = await authorize(authorizerEvent(`Bearer ${second.token}`));
    const as = (routeKey: string, extra: Record<string, unknown> = {}) =>
      httpEvent({ routeKey, ...extra, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never });
    const number = `137${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    expect((await fns.phone(as('POST /user/phone', { body: JSON.stringify({ code: `${number}.${name}` }) }))).statusCode).toBe(200);
    const upload = await uploadEvent(IMAGES.png);
    expect((await fns.avatar(as('POST /user/avatar', { headers: upload.headers, body: upload.body, isBase64Encoded: true }))).statusCode).toBe(200);
    expect((await fns.profile(as('POST /user/profile', { body: JSON.stringify({ nickname: '丽塔' }) }))).statusCode).toBe(200);
    return { name, number, userId: context!.userId!, openid: context!.openid!, tokens: [first.token, second.token], codes: [`${name}.1`, `${name}.2`], as };
  }
  const row = async (openid: string) => (await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: openid } }, ConsistentRead: true }))).Item;
  const claim = async (number: string) => (await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.PHONES_TABLE, Key: { phone: { S: `+86${number}` } } }))).Item;

  describe('GET /user/me/export', () => {
    it('answers everything stored about the user as a download, with no token or secret', async () => {
      const u = await fullUser();
      const result = await fns['export-account'](u.as('GET /user/me/export'));
      expect(result.statusCode).toBe(200);
      expect(result.headers?.['content-disposition']).toBe(`attachment; filename="account-${u.userId}.json"`);
      const data = bodyOf(result);
      expect(data).toMatchObject({
        userId: u.userId,
        openid: u.openid,
        loginCount: 2,
        nickname: '丽塔',
        avatarUrl: expect.stringContaining(`/avatars/${u.userId}/`),
        phone: { countryCode: '86', purePhoneNumber: u.number, phoneNumber: u.number, verifiedAt: expect.any(String) },
      });
      expect(data.sessions).toHaveLength(2);
      expect(data.sessions.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
      for (const s of data.sessions) expect(Object.keys(s).sort()).toEqual(['appid', 'createdAt', 'current', 'expiresAt', 'id', 'lastUsedAt', 'maxExpiresAt', 'network']);
      // Each login, with the session it opened (a public id, never the token's hash).
      expect(data.logins.map((entry: { result: string }) => entry.result)).toEqual(['success', 'success']);
      expect(data.logins.map((entry: { session: string }) => entry.session).sort()).toEqual(data.sessions.map((s: { id: string }) => s.id).sort());
      for (const token of u.tokens) expect(result.body).not.toContain(token);
      expect(result.body).not.toMatch(/[A-Za-z0-9_-]{43}/); // no token, and no token's hash
    });
  });

  describe('POST /user/delete', () => {
    it('refuses a code of another WeChat user with 403 REAUTH_FAILED and changes nothing', async () => {
      const u = await fullUser();
      const result = await fns['delete-account'](u.as('POST /user/delete', { body: JSON.stringify({ code: `someone-else.${u.name}` }) }));
      expect(result.statusCode).toBe(403);
      expect(bodyOf(result).error.code).toBe('REAUTH_FAILED');
      expect(await row(u.openid)).toMatchObject({ userId: { S: u.userId }, nickname: { S: '丽塔' } });
      await expect(authorize(authorizerEvent(`Bearer ${u.tokens[0]}`))).resolves.toMatchObject({ isAuthorized: true });
    });

    it('deletes everything held about the user, and the next login is a new user', async () => {
      const u = await fullUser();
      const result = await fns['delete-account'](u.as('POST /user/delete', { body: JSON.stringify({ code: `${u.name}.delete` }) }));
      expect(result.statusCode).toBe(204);

      expect(await row(u.openid)).toBeUndefined();
      expect(await claim(u.number)).toBeUndefined();
      expect(ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${u.userId}/`))).toEqual([]);
      for (const token of u.tokens) await expect(authorize(authorizerEvent(`Bearer ${token}`))).resolves.toMatchObject({ isAuthorized: false });
      const dump = await dumpRedis(ctx.redis);
      expect(dump).not.toContain(`user-sessions:${u.userId}`);
      expect(dump).not.toContain(`user-codes:${u.userId}`);
      expect(dump).not.toContain(`user-phone-codes:${u.userId}`);
      // A used login code no longer replays a session.
      expect((await fns.login(loginFrom(ip, u.codes[1]!))).statusCode).toBe(401);
      expect(printed.join('')).toContain('"detailType":"UserDeleted"');

      const again = await loginAs(`${u.name}.3`);
      expect(again).toMatchObject({ isNewUser: true });
      expect(again.userId).not.toBe(u.userId);
    });

    it('refuses an unknown key or a missing code with 400', async () => {
      const u = await fullUser();
      for (const body of ['{}', JSON.stringify({ code: 'x', all: true })]) {
        const result = await fns['delete-account'](u.as('POST /user/delete', { body }));
        expect(result.statusCode).toBe(400);
      }
    });

    it('finishes a deletion that stopped at Redis when the user retries; one that stopped after it, at the next login', async () => {
      const u = await fullUser();
      ctx.stack.gateway.failNext('/', 1, 'wxlogin:purge-user');
      const failed = await fns['delete-account'](u.as('POST /user/delete', { body: JSON.stringify({ code: `${u.name}.del1` }) }));
      expect(failed.statusCode).toBe(503);
      // The tombstone holds nothing personal; the sessions still work, so the client retries.
      expect(await row(u.openid)).toEqual({ openid: { S: u.openid }, userId: { S: u.userId }, deletedAt: expect.anything(), purgeAt: expect.anything() });
      expect((await fns['delete-account'](u.as('POST /user/delete', { body: JSON.stringify({ code: `${u.name}.del2` }) }))).statusCode).toBe(204);
      expect(await row(u.openid)).toBeUndefined();

      // Stopped after Redis (the tombstone could not be deleted): the next login finishes it.
      const v = await fullUser();
      const { DynamoUserRepository } = await import('../../lib/adapters/dynamodb-users');
      const { createDynamoClient } = await import('../../lib/adapters/dynamodb');
      const users = new DynamoUserRepository(createDynamoClient({ endpoint: ctx.env.DYNAMODB_ENDPOINT, timeoutMs: 2000 }), ctx.env.USERS_TABLE!);
      await users.tombstone({ userId: v.userId, openid: v.openid }, new Date());
      const fresh = await loginAs(`${v.name}.after`);
      expect(fresh).toMatchObject({ isNewUser: true });
      expect(fresh.userId).not.toBe(v.userId);
      for (const token of v.tokens) await expect(authorize(authorizerEvent(`Bearer ${token}`))).resolves.toMatchObject({ isAuthorized: false });
      expect((await row(v.openid))?.userId?.S).toBe(fresh.userId);
      expect(stubOpenid(ctx.env.WECHAT_APPID!, v.name)).toBe(v.openid);
    });
  });
  describe('WeChat’s authorization events (POST /wechat/events, 安全模式, as WeChat signs them)', () => {
    /** What WeChat's push service would send for `u`. */
    async function pushed(event: AuthorizationEvent, openid: string, revokeInfo?: string) {
      const message = authorizationEvent(event, openid, ctx.env.WECHAT_APPID!, { revokeInfo });
      const signed = signPush({ token: ctx.env.WECHAT_PUSH_TOKEN!, encodingAesKey: ctx.env.WECHAT_PUSH_AES_KEY!, appId: ctx.env.WECHAT_APPID! }, message);
      const result = await fns['wechat-events'](
        httpEvent({
          routeKey: 'POST /wechat/events',
          rawPath: '/wechat/events',
          queryStringParameters: signed.query,
          rawQueryString: new URLSearchParams(signed.query).toString(),
          body: signed.body,
          headers: { 'content-type': 'application/json' },
        }),
      );
      expect([result.statusCode, result.body]).toEqual([200, 'success']);
    }

    it('a revoked phone number (RevokeInfo 8) comes off the row and frees its claim; the profile stays', async () => {
      const u = await fullUser();
      await pushed('user_authorization_revoke', u.openid, '8');
      const item = await row(u.openid);
      expect(item?.phone).toBeUndefined();
      expect(item?.nickname?.S).toBe('丽塔');
      expect(await claim(u.number)).toBeUndefined();
      // The user is still signed in.
      await expect(authorize(authorizerEvent(`Bearer ${u.tokens[1]}`))).resolves.toMatchObject({ isAuthorized: true });
    });

    it('user_info_modified (WeChat cleaned the profile up) clears the nickname and the avatar and deletes its files; the phone stays', async () => {
      const u = await fullUser();
      await pushed('user_info_modified', u.openid);
      const item = await row(u.openid);
      expect(item?.nickname).toBeUndefined();
      expect(item?.avatarKey).toBeUndefined();
      expect(item?.phone?.M?.e164?.S).toBe(`+86${u.number}`);
      expect(ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${u.userId}/`))).toEqual([]);
    });

    it('user_authorization_cancellation deletes the account as POST /user/delete does, and a repeat of it changes nothing', async () => {
      const u = await fullUser();
      await pushed('user_authorization_cancellation', u.openid);
      expect(await row(u.openid)).toBeUndefined();
      expect(await claim(u.number)).toBeUndefined();
      expect(ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${u.userId}/`))).toEqual([]);
      for (const token of u.tokens) await expect(authorize(authorizerEvent(`Bearer ${token}`))).resolves.toMatchObject({ isAuthorized: false });
      expect(printed.join('')).toContain(`"detailType":"UserDeleted"`);
      // WeChat sends it again (a new CreateTime: not a duplicate of the first): nothing left to do.
      await pushed('user_authorization_cancellation', u.openid);
      expect(await row(u.openid)).toBeUndefined();
    });
  });
});
