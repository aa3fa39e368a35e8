import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../lib/adapters/dynamodb';
import { createRedisClient } from '../../lib/adapters/redis';
import { RedisSessionStore } from '../../lib/adapters/redis-sessions';
import { authorizationEvent, signPush } from '../../local/wechat-push';
import { stubOpenid, stubUnionid } from '../../local/wechat-stub';
import { authorizerEvent, bodyOf, httpEvent } from '../support/events';
import { exited, runScript } from '../support/dev-server';
import { coldStart, useLocalStack } from '../support/local';
import { IMAGES, uploadEvent } from '../support/multipart';

/** What each describe below reads and does against its own local stack. */
function identityWorld(ctx: { env: Record<string, string> }) {
  const dynamo = () => createDynamoClient({ endpoint: ctx.env.DYNAMODB_ENDPOINT, region: ctx.env.AWS_REGION, timeoutMs: 2000 });
  const loginAnswer = async (code: string, appid?: string) => (await coldStart('login', ctx.env))(httpEvent({ body: JSON.stringify({ code, ...(appid ? { appid } : {}) }) }));
  return {
    mini2: () => ctx.env.WECHAT_APPID_MINI2!,
    /** A users-table row, read consistently. */
    row: async (openid: string) => (await dynamo().send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: openid } }, ConsistentRead: true }))).Item,
    /** A unionid's claim, read consistently. */
    claim: async (unionid: string) => (await dynamo().send(new GetItemCommand({ TableName: ctx.env.UNIONIDS_TABLE, Key: { unionid: { S: unionid } }, ConsistentRead: true }))).Item,
    loginAnswer,
    login: async (code: string, appid?: string) => bodyOf(await loginAnswer(code, appid)),
  };
}

/**
 * Identities (docs/identities.md): one person across the deployment's mini-programs is one user
 * when WeChat sends the unionid, through the login function against dynalite and the stub's two
 * apps of one open platform. The store is read directly, for what the answers cannot show.
 */
describe('Identities across mini-programs (integration)', () => {
  const ctx = useLocalStack();
  const { mini2, row, claim, loginAnswer } = identityWorld(ctx);
  const dynamo = () => createDynamoClient({ endpoint: ctx.env.DYNAMODB_ENDPOINT, region: ctx.env.AWS_REGION, timeoutMs: 2000 });
  /** The answer's status beside its body. */
  const login = async (code: string, appid?: string) => {
    const answer = await loginAnswer(code, appid);
    return { status: answer.statusCode, body: bodyOf(answer) };
  };

  it('signs one person in as one user from two mini-programs when WeChat sends the unionid; the second app’s identity points at the first’s home row', async () => {
    const first = await login('ana.union1');
    expect(first).toMatchObject({ status: 200, body: { isNewUser: true } });
    const second = await login('ana.union2', mini2());
    expect(second).toMatchObject({ status: 200, body: { userId: first.body.userId, isNewUser: false } });

    const home = stubOpenid(ctx.env.WECHAT_APPID!, 'ana');
    const other = stubOpenid(mini2(), 'ana');
    expect(await row(home)).toMatchObject({ userId: { S: first.body.userId }, appid: { S: ctx.env.WECHAT_APPID }, unionid: { S: stubUnionid('ana') } });
    expect((await row(home))!.home).toBeUndefined();
    expect(await row(other)).toMatchObject({ userId: { S: first.body.userId }, appid: { S: mini2() }, home: { S: home }, unionid: { S: stubUnionid('ana') }, loginCount: { N: '1' } });
    expect(await claim(stubUnionid('ana'))).toMatchObject({ userId: { S: first.body.userId }, home: { S: home } });

    // The second app's session: its own openid and app, the home row to key user data by.
    const authorize = await coldStart('authorizer', ctx.env);
    const { context } = await authorize(authorizerEvent(`Bearer ${second.body.token}`));
    expect(context).toMatchObject({ userId: first.body.userId, openid: other, home, appid: mini2(), unionid: stubUnionid('ana') });
    // A returning login through either identity signs in the same user.
    expect((await login('ana.union3', mini2())).body).toMatchObject({ userId: first.body.userId, isNewUser: false });
    expect((await login('ana.union4')).body).toMatchObject({ userId: first.body.userId, isNewUser: false });
  });

  it('keeps two people without unionids apart, and the same person without one is two users (nothing links them)', async () => {
    const bea = await login('bea.1');
    const cy = await login('cy.1', mini2());
    const beaElsewhere = await login('bea.2', mini2());
    expect(new Set([bea.body.userId, cy.body.userId, beaElsewhere.body.userId]).size).toBe(3);
    expect(beaElsewhere.body.isNewUser).toBe(true);
  });

  it('backfills: a user from before the open-platform binding takes the unionid on its next login, and the other app then joins it', async () => {
    const before = await login('dee.1');
    expect((await row(stubOpenid(ctx.env.WECHAT_APPID!, 'dee')))!.unionid).toBeUndefined();
    const after = await login('dee.union1');
    expect(after.body).toMatchObject({ userId: before.body.userId, isNewUser: false });
    expect(await claim(stubUnionid('dee'))).toMatchObject({ userId: { S: before.body.userId } });
    expect((await login('dee.union2', mini2())).body).toMatchObject({ userId: before.body.userId, isNewUser: false });
  });

  it('merges nothing when the unionid arrives for a user who differs from its holder: signs in the identity’s own user and records the pair', async () => {
    // Eve used both apps before the binding: two users. The binding brings her unionid to both.
    const inFirst = await login('eve.1');
    const inSecond = await login('eve.2', mini2());
    expect(inSecond.body.userId).not.toBe(inFirst.body.userId);
    expect((await login('eve.union3')).body.userId).toBe(inFirst.body.userId);
    const conflicted = await login('eve.union4', mini2());
    expect(conflicted.body).toMatchObject({ userId: inSecond.body.userId, isNewUser: false });
    const other = stubOpenid(mini2(), 'eve');
    expect(await row(other)).toMatchObject({ userId: { S: inSecond.body.userId }, unionConflict: { S: stubUnionid('eve') }, conflictWith: { S: inFirst.body.userId } });
    expect((await row(other))!.unionid).toBeUndefined();
    // Still its own user on later logins; the claim is unchanged.
    expect((await login('eve.union5', mini2())).body.userId).toBe(inSecond.body.userId);
    expect(await claim(stubUnionid('eve'))).toMatchObject({ userId: { S: inFirst.body.userId } });
  });

  it('finishes a first login that stopped after its claim: the next login through the other app joins the user whose claim it is', async () => {
    // As a login that stopped between its claim and its link: the row and the claim, no link.
    const first = await login('fay.1');
    const home = stubOpenid(ctx.env.WECHAT_APPID!, 'fay');
    await dynamo().send(
      new UpdateItemCommand({
        TableName: ctx.env.UNIONIDS_TABLE,
        Key: { unionid: { S: stubUnionid('fay') } },
        UpdateExpression: 'SET userId = :u, home = :h',
        ExpressionAttributeValues: { ':u': { S: first.body.userId }, ':h': { S: home } },
      }),
    );
    expect((await login('fay.union1', mini2())).body).toMatchObject({ userId: first.body.userId, isNewUser: false });
    expect((await login('fay.union2')).body).toMatchObject({ userId: first.body.userId });
    expect(await row(home)).toMatchObject({ unionid: { S: stubUnionid('fay') } });
  });

  it('answers 400 UNKNOWN_APP for an AppID the deployment does not serve', async () => {
    expect(await login('gus.1', 'wx0000000000000009')).toMatchObject({ status: 400, body: { error: { code: 'UNKNOWN_APP' } } });
  });
});

/**
 * Every route of a signed-in user works per user, across the user's identities: a session of the
 * second app reads and writes the user's home row.
 */
describe('A second app’s session works on the user (integration)', () => {
  const ctx = useLocalStack();
  const { mini2, row, claim, login } = identityWorld(ctx);
  /** A protected route's event, as API Gateway hands it on after the authorizer. */
  const asUser = async (token: string, body?: object) => {
    const { context } = await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${token}`));
    return httpEvent({
      ...(body ? { body: JSON.stringify(body) } : {}),
      requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never,
    });
  };

  it('shows the user’s profile, apps and summed logins from either app; the nickname and the phone set in one show in the other', async () => {
    const first = await login('hal.union1');
    const second = await login('hal.union2', mini2());
    await login('hal.union3', mini2());
    const me = await coldStart('me', ctx.env);
    const fromSecond = bodyOf(await me(await asUser(second.token)));
    expect(fromSecond).toMatchObject({ userId: first.userId, loginCount: 3 });
    expect(fromSecond.apps.map((app: { appid: string }) => app.appid).sort()).toEqual([ctx.env.WECHAT_APPID, mini2()].sort());
    expect(JSON.stringify(fromSecond)).not.toContain(stubOpenid(mini2(), 'hal'));

    // Both checks name the second app's openid: the stub answers 43104 unless the call takes
    // the second app's own access token.
    const profile = await coldStart('profile', ctx.env);
    const changed = await profile(await asUser(second.token, { nickname: 'Hal' }));
    expect(changed.statusCode).toBe(200);
    // The new profile as GET /user/me shows it: the apps, the logins over them.
    expect(bodyOf(changed)).toMatchObject({ nickname: 'Hal', loginCount: 3, apps: [expect.anything(), expect.anything()] });
    const phone = await coldStart('phone', ctx.env);
    expect((await phone(await asUser(second.token, { code: '13800138123.hal' }))).statusCode).toBe(200);
    const fromFirst = bodyOf(await me(await asUser(first.token)));
    expect(fromFirst).toMatchObject({ nickname: 'Hal', phone: { purePhoneNumber: '13800138123' } });
    // On the home row, not on the second identity's.
    expect(await row(stubOpenid(mini2(), 'hal'))).not.toHaveProperty('nickname');
    expect(await row(stubOpenid(ctx.env.WECHAT_APPID!, 'hal'))).toMatchObject({ nickname: { S: 'Hal' } });

    const exported = bodyOf(await (await coldStart('export-account', ctx.env))(await asUser(second.token)));
    expect(exported.identities.map((identity: { openid: string }) => identity.openid).sort()).toEqual([stubOpenid(ctx.env.WECHAT_APPID!, 'hal'), stubOpenid(mini2(), 'hal')].sort());
  });

  it('deletes the user and every identity of it from the second app’s session, re-authenticated in that app; a later login is a new user', async () => {
    const first = await login('ivy.union1');
    const second = await login('ivy.union2', mini2());
    const deleted = await (await coldStart('delete-account', ctx.env))(await asUser(second.token, { code: 'ivy.union3' }));
    expect(deleted.statusCode).toBe(204);
    expect(await row(stubOpenid(ctx.env.WECHAT_APPID!, 'ivy'))).toBeUndefined();
    expect(await row(stubOpenid(mini2(), 'ivy'))).toBeUndefined();
    expect(await claim(stubUnionid('ivy'))).toBeUndefined();
    // Both apps' sessions are gone.
    for (const token of [first.token, second.token]) {
      expect((await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${token}`))).isAuthorized).toBe(false);
    }
    const again = await login('ivy.union4', mini2());
    expect(again).toMatchObject({ isNewUser: true });
    expect(again.userId).not.toBe(first.userId);
  });

  it('takes the second app’s pushes at /wechat/events/<its AppID>, signed with its own Token and key: a cancellation deletes the whole user', async () => {
    const first = await login('rex.union1');
    await login('rex.union2', mini2());
    const events = await coldStart('wechat-events', ctx.env);
    const pushTo = (appid: string | undefined, keys: { token: string; encodingAesKey: string }, appId: string, openid: string) => {
      const signed = signPush({ ...keys, appId }, authorizationEvent('user_authorization_cancellation', openid, appId));
      return events(
        httpEvent({
          routeKey: `POST /wechat/events${appid ? '/{appid}' : ''}`,
          rawPath: `/wechat/events${appid ? `/${appid}` : ''}`,
          ...(appid ? { pathParameters: { appid } } : {}),
          queryStringParameters: signed.query,
          body: signed.body,
        }),
      );
    };
    const own = { token: ctx.env[`WECHAT_PUSH_TOKEN_${mini2()}`]!, encodingAesKey: ctx.env[`WECHAT_PUSH_AES_KEY_${mini2()}`]! };
    const defaults = { token: ctx.env.WECHAT_PUSH_TOKEN!, encodingAesKey: ctx.env.WECHAT_PUSH_AES_KEY! };
    const openid = stubOpenid(mini2(), 'rex');
    // Signed with the default app's Token: not this app's push.
    expect((await pushTo(mini2(), defaults, mini2(), openid)).statusCode).toBe(403);
    // An app the deployment does not serve has no push URL.
    expect(bodyOf(await pushTo('wx0000000000000009', own, 'wx0000000000000009', openid))).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect(await row(stubOpenid(ctx.env.WECHAT_APPID!, 'rex'))).toBeDefined();
    // The person deleted their WeChat account: the whole user goes, from whichever app's push.
    const answer = await pushTo(mini2(), own, mini2(), openid);
    expect(answer.body).toBe('success');
    expect(await row(stubOpenid(ctx.env.WECHAT_APPID!, 'rex'))).toBeUndefined();
    expect(await row(openid)).toBeUndefined();
    expect((await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${first.token}`))).isAuthorized).toBe(false);
  });

  it('lets a recorded conflict go once its holder is deleted: the identity’s user takes the unionid, and the other app then joins it', async () => {
    const own = await login('kai.1');
    const holder = await login('kai.2', mini2());
    await login('kai.union3', mini2());
    await login('kai.union4');
    expect(await row(stubOpenid(ctx.env.WECHAT_APPID!, 'kai'))).toMatchObject({ unionConflict: { S: stubUnionid('kai') }, conflictWith: { S: holder.userId } });
    // The holder deletes its account: its claim goes with it.
    expect((await (await coldStart('delete-account', ctx.env))(await asUser(holder.token, { code: 'kai.5' }))).statusCode).toBe(204);
    expect(await claim(stubUnionid('kai'))).toBeUndefined();
    expect(await login('kai.union6')).toMatchObject({ userId: own.userId });
    expect(await claim(stubUnionid('kai'))).toMatchObject({ userId: { S: own.userId } });
    expect(await row(stubOpenid(ctx.env.WECHAT_APPID!, 'kai'))).not.toHaveProperty('unionConflict');
    expect(await login('kai.union7', mini2())).toMatchObject({ userId: own.userId, isNewUser: false });
  });

  it('refuses a deletion re-authenticated with a code of the other app (another openid): 401 REAUTH_FAILED', async () => {
    await login('jo.union1');
    const second = await login('jo.union2', mini2());
    // A code of the default app, sent from the second app's session: exchanged in the second app, so refused by WeChat.
    const answer = await (await coldStart('delete-account', ctx.env))(await asUser(second.token, { code: 'kim.1' }));
    expect(bodyOf(answer).error.code).toBe('REAUTH_FAILED');
  });
});

/**
 * The operator's merge (npm run users -- merge), through the CLI against the local stack: the
 * conflict's two users become one, and nothing of the merged-away user stays signed in.
 */
describe('Merging users (integration)', () => {
  const ctx = useLocalStack();
  const { mini2, row, loginAnswer, login } = identityWorld(ctx);
  const contextOf = async (token: string) => (await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${token}`))) as { isAuthorized: boolean; context: Record<string, string> };
  const asUser = async (token: string, body?: object, extra: Record<string, unknown> = {}) =>
    httpEvent({ ...(body ? { body: JSON.stringify(body) } : {}), ...extra, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: (await contextOf(token)).context } } as never });
  const users = async (...args: string[]) => {
    const run = runScript('scripts/users.ts', ctx.env, args);
    return { code: await exited(run.child), output: run.output() };
  };

  it('moves the conflicting user’s identities, phone number and avatar into the holder of the unionid, keeps the holder’s nickname, and ends the merged user’s sessions', async () => {
    // Two users of one person, from before the binding; the binding's unionid makes a conflict.
    const into = await login('mia.1');
    const from = await login('mia.2', mini2());
    await login('mia.union3');
    const conflicted = await login('mia.union4', mini2());
    expect(conflicted.userId).toBe(from.userId);
    await (await coldStart('profile', ctx.env))(await asUser(into.token, { nickname: 'Mia' }));
    await (await coldStart('profile', ctx.env))(await asUser(from.token, { nickname: 'Mia B' }));
    expect((await (await coldStart('phone', ctx.env))(await asUser(from.token, { code: '13700137001.mia' }))).statusCode).toBe(200);
    const { headers, body, isBase64Encoded } = await uploadEvent(IMAGES.png);
    expect((await (await coldStart('avatar', ctx.env))(await asUser(from.token, undefined, { headers, body, isBase64Encoded }))).statusCode).toBe(200);

    const merged = await users('merge', from.userId, into.userId);
    expect(merged.code, merged.output).toBe(0);
    expect(merged.output).toContain(`merged user ${from.userId} into ${into.userId}: 1 identity moved`);
    expect(merged.output).toMatch(/moved: phone, avatar/);
    expect(merged.output).toMatch(/dropped \(.*\): nickname/);
    expect(merged.output).not.toContain('13700137001');

    // The merged user's sessions are gone; the holder's stay, now with the phone and the avatar.
    expect((await contextOf(from.token)).isAuthorized).toBe(false);
    expect((await contextOf(conflicted.token)).isAuthorized).toBe(false);
    const profile = bodyOf(await (await coldStart('me', ctx.env))(await asUser(into.token)));
    expect(profile).toMatchObject({ userId: into.userId, nickname: 'Mia', phone: { purePhoneNumber: '13700137001' }, avatarUrl: expect.stringContaining(`/avatars/${into.userId}/`) });
    expect(profile.apps.map((app: { appid: string }) => app.appid).sort()).toEqual([ctx.env.WECHAT_APPID, mini2()].sort());
    expect(ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${from.userId}/`))).toEqual([]);
    // The second app's identity is the holder's now, linked, its conflict resolved.
    const moved = await row(stubOpenid(mini2(), 'mia'));
    expect(moved).toMatchObject({ userId: { S: into.userId }, home: { S: stubOpenid(ctx.env.WECHAT_APPID!, 'mia') }, linkedUnionid: { S: stubUnionid('mia') } });
    expect(moved).not.toHaveProperty('unionConflict');
    expect(moved).not.toHaveProperty('phone');
    expect(await login('mia.union5', mini2())).toMatchObject({ userId: into.userId, isNewUser: false });

    // Run again: nothing left to move, nothing broken, and it says so.
    const again = await users('merge', from.userId, into.userId);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain(`user ${from.userId} was merged into ${into.userId} already`);
    // Into someone else now: refused, nothing done (it is no user of its own any more).
    const other = await login('mia-other.1');
    expect(await users('merge', from.userId, other.userId)).toMatchObject({ code: 1, output: expect.stringContaining(`No user ${from.userId} (it does not exist, or it was merged into another user)`) });
    expect(bodyOf(await (await coldStart('me', ctx.env))(await asUser(into.token)))).toMatchObject({ phone: { purePhoneNumber: '13700137001' } });
  });

  it('answers a login that meets a half-done merge with 503, moving its identity, and the retry signs in the user it was merged into', async () => {
    const from = await login('ned.union1');
    await login('ned.union2', mini2());
    const into = await login('oz.1');
    // As a merge stopped after its first step: the merged mark, nothing moved yet.
    const sessions = new RedisSessionStore(createRedisClient({ url: ctx.env.UPSTASH_REDIS_REST_URL!, token: ctx.env.UPSTASH_REDIS_REST_TOKEN!, keyPrefix: 'wxlogin:', timeoutMs: 2000 }), { keyPrefix: 'wxlogin:', userIndexTtlSeconds: 60 });
    await sessions.purgeUser(from.userId, { index: 'wxlogin:none', others: [] }, { userId: into.userId, home: stubOpenid(ctx.env.WECHAT_APPID!, 'oz') });
    const refused = await loginAnswer('ned.union3', mini2());
    expect(refused.statusCode).toBe(503);
    expect(bodyOf(refused).error.code).toBe('SERVICE_UNAVAILABLE');
    expect(await login('ned.union4', mini2())).toMatchObject({ userId: into.userId, isNewUser: false });
    // The home row waits for the merge itself: never a session for the merged-away user.
    expect((await loginAnswer('ned.union5')).statusCode).toBe(503);
  });

  it('refuses what cannot be merged, in one line: an unknown user, a user into itself, malformed ids', async () => {
    const a = await login('pia.1');
    expect(await users('merge', a.userId, a.userId)).toMatchObject({ code: 1, output: expect.stringContaining('cannot be merged into itself') });
    expect(await users('merge', a.userId, '01ARZ3NDEKTSV4RRFFQ69G5FAV')).toMatchObject({ code: 1, output: expect.stringContaining('No user 01ARZ3NDEKTSV4RRFFQ69G5FAV') });
    // An unknown source is no success: nothing merged, no event.
    expect(await users('merge', '01ARZ3NDEKTSV4RRFFQ69G5FAV', a.userId)).toMatchObject({ code: 1, output: expect.stringContaining('No user 01ARZ3NDEKTSV4RRFFQ69G5FAV (it does not exist') });
    expect(await users('merge', 'not-an-id', a.userId)).toMatchObject({ code: 2, output: expect.stringContaining('merge takes userIds') });
  });
});
