import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { coldStart, dumpRedis, useLocalStack } from '../support/local';

/**
 * POST /user/opendata (docs/api.md) through the functions against the local stack, the stub's
 * open data made with each user's current session_key, and its checksession.
 */
describe('POST /user/opendata (integration)', () => {
  const ctx = useLocalStack({ OPENDATA_CHECK_LIMIT: '3' });
  const login = async (code: string, path = '/user/wechatlogin') => {
    const event = loginFrom('198.51.100.41', code);
    event.rawPath = path;
    const answer = await (await coldStart('login', ctx.env))(event);
    return bodyOf(answer) as { token: string; userId: string };
  };
  /** What the wx API would hand user NAME's page now (encrypted with their current key). */
  const wxData = async (name: string, data: object, extra: { appid?: string; watermark?: object } = {}) =>
    (await (await fetch(`${ctx.env.WECHAT_API_BASE}/__stub/opendata`, { method: 'POST', body: JSON.stringify({ name, data, ...extra }) })).json()) as { encryptedData: string; iv: string };
  const post = async (token: string, body: object) => {
    const { context } = await (await coldStart('authorizer', ctx.env))(authorizerEvent(`Bearer ${token}`));
    const event = httpEvent({
      routeKey: 'POST /user/opendata',
      rawPath: '/user/opendata',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never,
    });
    const answer = await (await coldStart('opendata', ctx.env))(event);
    return { status: answer.statusCode, body: bodyOf(answer) };
  };
  const werun = { stepInfoList: [{ timestamp: 1764806400, step: 8021 }, { timestamp: 1764892800, step: 10433 }] };

  it('answers WeRun’s steps and a share’s openGId, without the watermark', async () => {
    const { token } = await login('ada.1');
    expect(await post(token, await wxData('ada', werun))).toEqual({ status: 200, body: werun });
    expect(await post(token, await wxData('ada', { openGId: 'tGx9c0ZD1ci00a' }))).toEqual({ status: 200, body: { openGId: 'tGx9c0ZD1ci00a' } });
    expect(await post(token, await wxData('ada', { opengid: 'tGx9c0ZD1ci00b' }))).toEqual({ status: 200, body: { opengid: 'tGx9c0ZD1ci00b' } });
  });

  it('answers 401 SESSION_KEY_EXPIRED when a wx.login the server never saw replaced the key (WeChat says 87009); the next one asks no one', async () => {
    const phone = await login('bob.1');
    // Another wx.login of bob's reaches WeChat (here: a login of another device): bob's key is replaced.
    await login('bob.2');
    const fresh = await wxData('bob', werun);
    const before = ctx.stack.wechat.stats.sessionChecks;
    expect(await post(phone.token, fresh)).toMatchObject({ status: 401, body: { error: { code: 'SESSION_KEY_EXPIRED' } } });
    // Asked (a read may be sent again over a fresh connection when a kept-alive one was closed under it).
    const asked = ctx.stack.wechat.stats.sessionChecks - before;
    expect(asked, 'WeChat asked').toBeGreaterThanOrEqual(1);
    expect(await post(phone.token, fresh)).toMatchObject({ status: 401, body: { error: { code: 'SESSION_KEY_EXPIRED' } } });
    expect(ctx.stack.wechat.stats.sessionChecks - before, 'the verdict kept on the session: not asked again').toBe(asked);
    // Nothing of the data or the key is kept in Redis.
    const dump = await dumpRedis(ctx.redis);
    expect(dump).not.toContain('8021');
    expect(dump).not.toContain(fresh.encryptedData);
    // The kit's heal: a fresh login, whose session holds the new key.
    const healed = await login('bob.3');
    expect(await post(healed.token, await wxData('bob', werun))).toEqual({ status: 200, body: werun });
  });

  it('refuses another app’s data, an old capture, and data that is not a wx API’s (WeChat says the key is fine) with 400 OPENDATA_INVALID', async () => {
    const { token } = await login('cyd.1');
    expect(await post(token, await wxData('cyd', werun, { watermark: { appid: 'wx-other-app', timestamp: Math.floor(Date.now() / 1000) } }))).toMatchObject({ status: 400, body: { error: { code: 'OPENDATA_INVALID', message: expect.stringContaining('another AppID') } } });
    expect(await post(token, await wxData('cyd', werun, { watermark: { appid: ctx.env.WECHAT_APPID, timestamp: Math.floor(Date.now() / 1000) - 601 } }))).toMatchObject({ status: 400, body: { error: { code: 'OPENDATA_INVALID', message: expect.stringContaining('older') } } });
    const garbage = { encryptedData: randomBytes(64).toString('base64'), iv: randomBytes(16).toString('base64') };
    expect(await post(token, garbage)).toMatchObject({ status: 400, body: { error: { code: 'OPENDATA_INVALID' } } });
  });

  it('limits what undecryptable requests may cost WeChat’s quota: 429 past OPENDATA_CHECK_LIMIT', async () => {
    const { token } = await login('dee.1');
    const garbage = () => ({ encryptedData: randomBytes(32).toString('base64'), iv: randomBytes(16).toString('base64') });
    for (let i = 0; i < 3; i++) expect((await post(token, garbage())).body.error.code).toBe('OPENDATA_INVALID');
    expect(await post(token, garbage())).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
    // Well-formed data still reads: the limit is on asking WeChat only.
    expect((await post(token, await wxData('dee', werun))).status).toBe(200);
  });

  it('refuses a malformed request before any key, and a 公众号’s or an App’s session with OPENDATA_UNSUPPORTED', async () => {
    const { token } = await login('eve.1');
    expect(await post(token, { encryptedData: 'x', iv: 'y' })).toMatchObject({ status: 400, body: { error: { code: 'OPENDATA_MALFORMED' } } });
    expect(await post(token, { encryptedData: randomBytes(20).toString('base64'), iv: randomBytes(16).toString('base64') })).toMatchObject({ status: 400, body: { error: { code: 'OPENDATA_MALFORMED' } } });
    const web = await login('eve.userinfo.union1', '/user/wechatlogin/web');
    expect(await post(web.token, await wxData('eve', werun))).toMatchObject({ status: 400, body: { error: { code: 'OPENDATA_UNSUPPORTED' } } });
  });
});
