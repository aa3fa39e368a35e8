import { randomBytes } from 'node:crypto';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { authorizationEvent, signPush } from '../../local/wechat-push';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { coldStartAccountFunctions, randomPhone, userWithData, type AccountFunctions, type UserWithData } from '../support/account-world';
import { redisCommand, useLocalStack } from '../support/local';
import { IMAGES, uploadEvent } from '../support/multipart';

/**
 * The race suite: an account deletion against each write of the same user that may run beside
 * it, 20 rounds per pair, the second request started at a random offset (0–250 ms) from the
 * first, as a busy user and WeChat's cancellation push make them. We do not judge a round by
 * what each request answered, but by the stores once both have settled: after a deletion
 * answered 204 (or its push `success`), nothing of that user is left but, at most, the
 * tombstone: no phone claim, no avatar file, no session, no row holding the openid for them.
 * (The fault suite makes the same interleavings deterministic with a delay at a chosen step.)
 */
const ROUNDS = 20;
const MAX_OFFSET_MS = 250;

describe('Races: an account deletion against each other write of the same user, 20 rounds with random offsets (integration)', () => {
  const ctx = useLocalStack();
  let fns: AccountFunctions;

  beforeAll(async () => {
    fns = await coldStartAccountFunctions({ ...ctx.env, LOGIN_RATE_LIMIT: '0', PHONE_BIND_LIMIT: '0', DYNAMODB_TIMEOUT_MS: '500', S3_TIMEOUT_MS: '500' });
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const offset = () => Math.floor(Math.random() * MAX_OFFSET_MS);
  let serial = 0;
  type User = UserWithData;

  /** The deletion as the kit makes it: a fresh code each attempt, retried after a 503 until 204 (or the token is refused). */
  async function deleteAsTheKit(user: User): Promise<string> {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const verdict = await fns.authorize(authorizerEvent(`Bearer ${user.token}`));
      if (!verdict.isAuthorized) return 'denied';
      const result = await fns.deleteAccount(user.as('POST /user/delete', { body: JSON.stringify({ code: `${user.name}.del${attempt}` }) }));
      if (result.statusCode === 204) return '204';
      expect(result.statusCode, JSON.stringify(bodyOf(result))).toBe(503);
      await sleep(Math.min(2000, Number(result.headers?.['retry-after'] ?? 1) * 1000));
    }
    return 'gave up';
  }

  /** WeChat's cancellation push, sent again (as WeChat does) until it answers success. */
  async function cancelAsWechat(user: User): Promise<string> {
    const signed = signPush(
      { token: ctx.env.WECHAT_PUSH_TOKEN!, encodingAesKey: ctx.env.WECHAT_PUSH_AES_KEY!, appId: ctx.env.WECHAT_APPID! },
      authorizationEvent('user_authorization_cancellation', user.openid, ctx.env.WECHAT_APPID!),
    );
    for (let attempt = 1; attempt <= 10; attempt++) {
      const result = await fns.wechatEvents(
        httpEvent({ routeKey: 'POST /wechat/events', rawPath: '/wechat/events', queryStringParameters: signed.query, body: signed.body, headers: { 'content-type': 'application/json' } }),
      );
      if (result.statusCode === 200 && result.body === 'success') return 'success';
      await sleep(500);
    }
    return 'gave up';
  }

  async function sessionsOf(userId: string): Promise<number> {
    const keys = (await redisCommand(ctx.redis, 'KEYS', 'wxlogin:session:*')) as string[];
    let n = 0;
    for (const key of keys) if ((await redisCommand(ctx.redis, 'HGET', key, 'uid')) === userId) n++;
    return n;
  }

  /**
   * Nothing of the deleted user is left: no claim, no file, no session, no Redis mark of theirs
   * but the deleted one, and the openid's row is gone, their tombstone, or a new account the
   * same WeChat user logged in to after the deletion (another userId, with its own session).
   */
  async function expectGone(user: User) {
    const { Items = [] } = await ctx.stack.dynamo.client.send(new ScanCommand({ TableName: ctx.env.PHONES_TABLE }));
    expect(Items.filter((item) => item.userId?.S === user.userId || item.openid?.S === user.openid).map((item) => item.phone?.S), 'phone claims left').toEqual([]);
    expect(ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${user.userId}/`)), 'avatar files left').toEqual([]);
    expect(await sessionsOf(user.userId), 'sessions left').toBe(0);
    expect(await redisCommand(ctx.redis, 'EXISTS', `wxlogin:phone-leases:${user.userId}`), 'phone leases left').toBe(0);
    expect(await redisCommand(ctx.redis, 'EXISTS', `wxlogin:welcomed:${user.userId}`), 'welcome mark left').toBe(0);
    const { Item: row } = await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: user.openid } }, ConsistentRead: true }));
    if (!row) return;
    if (row.userId?.S === user.userId) {
      expect(Object.keys(row).sort(), 'only the tombstone is left').toEqual(['deletedAt', 'openid', 'purgeAt', 'userId']);
    } else {
      expect(row.userId?.S, `a row for the openid without a user: ${JSON.stringify(Object.keys(row))}`).toMatch(/^[0-9A-Z]{26}$/);
      expect(await sessionsOf(row.userId!.S!), 'a new account has the session of its login').toBeGreaterThan(0);
    }
  }

  /** Runs `first` and, `offset()` ms later, `second`, for ROUNDS users five at a time. */
  async function rounds(prefix: string, pair: (user: User) => { deletion: Promise<string>; other: Promise<unknown> }) {
    const outcomes: string[] = [];
    for (let batch = 0; batch < ROUNDS; batch += 5) {
      await Promise.all(
        Array.from({ length: 5 }, async () => {
          const user = await userWithData(fns, ctx.env.WECHAT_APPID!, `${prefix}${++serial}x${randomBytes(3).toString('hex')}`, '198.51.100.77');
          const { deletion, other } = pair(user);
          const [deleted] = await Promise.all([deletion, other.catch(() => undefined)]);
          expect(deleted).toMatch(/^(204|denied|success)$/);
          outcomes.push(deleted);
          await expectGone(user);
        }),
      );
    }
    expect(outcomes).toHaveLength(ROUNDS);
  }

  /** One of the two starts first, chosen at random; the other after a random offset. */
  function race(deletion: () => Promise<string>, other: () => Promise<unknown>) {
    const wait = offset();
    if (Math.random() < 0.5) {
      const d = deletion();
      return { deletion: d, other: sleep(wait).then(other) };
    }
    const o = other();
    return { deletion: sleep(wait).then(deletion), other: o };
  }

  it('a phone binding whose WeChat answer is slow, beside the deletion: no claim of the user is left', async () => {
    await rounds('rp', (user) =>
      race(
        () => deleteAsTheKit(user),
        () => fns.phone(user.as('POST /user/phone', { body: JSON.stringify({ code: `delay.${100 + offset()}.${randomPhone()}.${user.name}` }) })),
      ),
    );
  }, 120_000);

  it('an avatar upload and a nickname change beside the deletion: no file of the user is left', async () => {
    await rounds('ra', (user) =>
      race(
        () => deleteAsTheKit(user),
        async () => {
          const upload = await uploadEvent(IMAGES.jpeg);
          await Promise.all([
            fns.avatar(user.as('POST /user/avatar', { headers: upload.headers, body: upload.body, isBase64Encoded: upload.isBase64Encoded })),
            sleep(offset()).then(() => fns.profile(user.as('POST /user/profile', { body: JSON.stringify({ nickname: `Race ${serial}` }) }))),
          ]);
        },
      ),
    );
  }, 120_000);

  it('a login with a fresh code beside the deletion: no row or session of the deleted user is left', async () => {
    await rounds('rl', (user) =>
      race(
        () => deleteAsTheKit(user),
        () => fns.login(loginFrom('198.51.100.78', `${user.name}.again`)),
      ),
    );
  }, 120_000);

  it('WeChat’s cancellation push beside a login: no row or session of the deleted user is left', async () => {
    await rounds('rw', (user) =>
      race(
        () => cancelAsWechat(user),
        () => fns.login(loginFrom('198.51.100.79', `${user.name}.again`)),
      ),
    );
  }, 120_000);

  it('WeChat’s cancellation push beside a phone binding and an avatar upload: nothing of the user is left', async () => {
    await rounds('rx', (user) =>
      race(
        () => cancelAsWechat(user),
        async () => {
          const upload = await uploadEvent(IMAGES.png);
          await Promise.all([
            fns.phone(user.as('POST /user/phone', { body: JSON.stringify({ code: `delay.${offset()}.${randomPhone()}.${user.name}` }) })),
            fns.avatar(user.as('POST /user/avatar', { headers: upload.headers, body: upload.body, isBase64Encoded: upload.isBase64Encoded })),
          ]);
        },
      ),
    );
  }, 120_000);
});
