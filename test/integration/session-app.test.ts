import { describe, expect, it } from 'vitest';
import { hashToken } from '../../lib/crypto';
import { FIELDS, sessionKeys } from '../../lib/adapters/redis-sessions';
import { authorizerEvent, bodyOf, loginEvent } from '../support/events';
import { coldStart, redisCommand, useLocalStack } from '../support/local';

/**
 * A session keeps the mini-program it was opened from, and the authorizer hands it to every
 * route as `appid`. A session opened before sessions kept it is the deployment's own app.
 */
describe('The session’s app (integration)', () => {
  const ctx = useLocalStack();

  it('hands routes the app a session was opened from, and the deployment’s app for a session that kept none', async () => {
    const login = await coldStart('login', ctx.env);
    const { token } = bodyOf(await login(loginEvent('apolline.1')));
    const authorize = await coldStart('authorizer', ctx.env);
    expect((await authorize(authorizerEvent(`Bearer ${token}`))).context).toMatchObject({ appid: ctx.env.WECHAT_APPID });

    // As a session stored before this release: no app field.
    const key = sessionKeys(ctx.env.REDIS_KEY_PREFIX ?? 'wxlogin:').session(hashToken(token));
    expect(await redisCommand(ctx.redis, 'HGET', key, FIELDS.appid)).toBe(ctx.env.WECHAT_APPID);
    await redisCommand(ctx.redis, 'HDEL', key, FIELDS.appid);
    const legacy = await coldStart('authorizer', { ...ctx.env, WECHAT_APPID: 'wx00000000000legacy' });
    expect((await legacy(authorizerEvent(`Bearer ${token}`))).context).toMatchObject({ appid: 'wx00000000000legacy' });
  });
});
