import { describe, expect, it, vi } from 'vitest';
import { HttpWechatAuth, type TimedGet, type WechatClientOptions } from '../../lib/adapters/wechat-login';
import { failure } from '../support/failure';
import { credentialsRejected } from '../../lib/errors';

const SECRET = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';

/** Bodies as WeChat sends them (JSON with a text/plain content type), recorded from real answers. */
const RECORDED = {
  success: '{"session_key":"gem14H1rqRrcpaBVKepX==","openid":"oRhHa1XxnSTM2w3ybVq7VL6Hb"}',
  successWithUnionid:
    '{"session_key":"gem14H1rqRrcpaBVKepX==","openid":"oRhHa1XxnSTM2w3ybVq7VL6Hb","unionid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE"}',
  legacySuccess: '{"errcode":0,"errmsg":"ok","session_key":"gem14H1rqRrcpaBVKepX==","expires_in":7200,"openid":"oRhHa1XxnSTM2w3ybVq7VL6Hb"}',
  busy: '{"errcode":-1,"errmsg":"system error, rid: 6512a1b2-0c9d8e7f-1a2b3c4d"}',
  invalidCode: '{"errcode":40029,"errmsg":"invalid code, rid: 652d44d0-1d0af18b-5b069232"}',
  codeUsed: '{"errcode":40163,"errmsg":"code been used, rid: 680a9de1-5392a330-75f1ca8d"}',
  blocked: '{"errcode":40226,"errmsg":"code blocked, rid: 680a9de1-5392a330-75f1ca8e"}',
  quota: '{"errcode":45011,"errmsg":"api minute-quota reach limit  mustslower  retry next minute, rid: 1"}',
  badAppid: '{"errcode":40013,"errmsg":"invalid appid, rid: 623ea70a-74b9b592-3e3d489a"}',
  badSecret:
    '{"errcode":40125,"errmsg":"invalid appsecret, view more at http:\\/\\/t.cn\\/RAEkdVq, hints: [ req_id: OHkfU14ce-1Xg96a ]"}',
  notWhitelisted: '{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist, rid: 1"}',
};

/** An HTTP answer as the transport hands it over (WeChat's JSON comes as text/plain). */
function reply(body: string, status = 200) {
  return { status, body };
}

function client(getImpl: TimedGet, overrides: Partial<WechatClientOptions> = {}) {
  const getMock = vi.fn(getImpl);
  const sleep = vi.fn(async (_ms: number) => {});
  const auth = new HttpWechatAuth({
    appId: 'wx1234567890abcdef',
    appSecret: SECRET,
    apiBase: 'https://api.weixin.qq.com',
    timeoutMs: 3000,
    deadlineMs: 5000,
    get: getMock,
    sleep,
    random: () => 0.5,
    ...overrides,
  });
  return { auth, getMock, sleep };
}

describe('Class: HttpWechatAuth', () => {
  describe('Method: code2Session', () => {
    it('calls jscode2session with every parameter URL-encoded', async () => {
      const { auth, getMock } = client(async () => reply(RECORDED.success), { appSecret: 'a&b=c d' });
      await auth.code2Session('0a3X.y_z~-');
      const url = new URL(getMock.mock.calls[0]![0]);
      expect(url.origin + url.pathname).toBe('https://api.weixin.qq.com/sns/jscode2session');
      expect(Object.fromEntries(url.searchParams)).toEqual({
        appid: 'wx1234567890abcdef',
        secret: 'a&b=c d',
        js_code: '0a3X.y_z~-',
        grant_type: 'authorization_code',
      });
      expect(getMock.mock.calls[0]![0]).toContain('secret=a%26b%3Dc+d');
    });

    it('reads a text/plain JSON answer into openid and session_key', async () => {
      const { auth } = client(async () => reply(RECORDED.success));
      await expect(auth.code2Session('c')).resolves.toEqual({
        openid: 'oRhHa1XxnSTM2w3ybVq7VL6Hb',
        sessionKey: 'gem14H1rqRrcpaBVKepX==',
      });
    });

    it('passes unionid through when WeChat sends one', async () => {
      const { auth } = client(async () => reply(RECORDED.successWithUnionid));
      await expect(auth.code2Session('c')).resolves.toMatchObject({ unionid: 'oGZUI0egBJY1zhBYw2KhdUfwVJJE' });
    });

    it('accepts the older success shape that carries errcode 0', async () => {
      const { auth } = client(async () => reply(RECORDED.legacySuccess));
      await expect(auth.code2Session('c')).resolves.toEqual({ openid: 'oRhHa1XxnSTM2w3ybVq7VL6Hb', sessionKey: 'gem14H1rqRrcpaBVKepX==' });
    });

    it.each([
      ['40029 invalid code', RECORDED.invalidCode, 'INVALID_CODE', 401],
      ['40163 code been used', RECORDED.codeUsed, 'INVALID_CODE', 401],
      ['40226 high-risk user', RECORDED.blocked, 'USER_BLOCKED', 403],
      ['45011 minute quota', RECORDED.quota, 'RATE_LIMITED', 429],
      ['40013 invalid appid', RECORDED.badAppid, 'WECHAT_ERROR', 502],
      ['40125 invalid appsecret', RECORDED.badSecret, 'WECHAT_ERROR', 502],
      ['40164 IP not whitelisted', RECORDED.notWhitelisted, 'WECHAT_ERROR', 502],
      ['an undocumented errcode', '{"errcode":99999,"errmsg":"?"}', 'WECHAT_ERROR', 502],
      ['an errcode sent as a string', '{"errcode":"40029","errmsg":"invalid code"}', 'INVALID_CODE', 401],
    ])('maps %s to %s without retrying', async (_name, body, code, status) => {
      const { auth, getMock } = client(async () => reply(body));
      const err = await failure(auth.code2Session('c'));
      expect({ code: err.code, status: err.status }).toEqual({ code, status });
      expect(getMock).toHaveBeenCalledTimes(1);
    });

    it('marks 40125, and only 40125, as refused credentials: a rotated AppSecret the function may re-read', async () => {
      for (const [body, rejected] of [[RECORDED.badSecret, true], [RECORDED.badAppid, false], [RECORDED.notWhitelisted, false]] as const) {
        const { auth } = client(async () => reply(body));
        expect(credentialsRejected(await failure(auth.code2Session('c')))?.by, body).toBe(rejected ? 'jscode2session' : undefined);
      }
    });

    it('gives 45011 a Retry-After of a minute', async () => {
      const { auth } = client(async () => reply(RECORDED.quota));
      expect((await failure(auth.code2Session('c'))).retryAfterSeconds).toBe(60);
    });

    it('retries a busy (-1) answer and succeeds when WeChat recovers', async () => {
      const bodies = [RECORDED.busy, RECORDED.busy, RECORDED.success];
      const { auth, getMock, sleep } = client(async () => reply(bodies.shift()!));
      await expect(auth.code2Session('c')).resolves.toMatchObject({ openid: 'oRhHa1XxnSTM2w3ybVq7VL6Hb' });
      expect(getMock).toHaveBeenCalledTimes(3);
      expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([100, 300]);
    });

    it('gives up on busy after two retries with WECHAT_UNAVAILABLE', async () => {
      const { auth, getMock } = client(async () => reply(RECORDED.busy));
      const err = await failure(auth.code2Session('c'));
      expect(err.code).toBe('WECHAT_UNAVAILABLE');
      expect(err.status).toBe(503);
      expect(getMock).toHaveBeenCalledTimes(3);
    });

    it('does not retry busy when the backoff would pass the deadline', async () => {
      const { auth, getMock } = client(async () => reply(RECORDED.busy), { deadlineMs: 120, busyBackoffMs: [1000] });
      expect((await failure(auth.code2Session('c'))).code).toBe('WECHAT_UNAVAILABLE');
      expect(getMock).toHaveBeenCalledTimes(1);
    });

    /** A WeChat that never answers: the transport gives up at the time limit it was handed. */
    const hang: TimedGet = (_url, timeoutMs) =>
      new Promise((_resolve, reject) => setTimeout(() => reject(Object.assign(new Error('no answer'), { name: 'TimeoutError' })), timeoutMs));

    it('gives a hanging call the configured time limit and answers WECHAT_UNAVAILABLE, without a retry', async () => {
      const { auth, getMock } = client(hang, { timeoutMs: 50 });
      const started = Date.now();
      const err = await failure(auth.code2Session('c'));
      expect(err.code).toBe('WECHAT_UNAVAILABLE');
      expect(err.details).toMatchObject({ reason: 'timeout', timeoutMs: 50 });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(getMock).toHaveBeenCalledTimes(1);
      expect(getMock.mock.calls[0]![1]).toBe(50);
    });

    it('bounds the call by the remaining deadline when it is shorter than the timeout', async () => {
      const { auth, getMock } = client(hang, { timeoutMs: 10_000, deadlineMs: 60 });
      const err = await failure(auth.code2Session('c'));
      expect(err.code).toBe('WECHAT_UNAVAILABLE');
      expect(getMock.mock.calls[0]![1]).toBeLessThanOrEqual(60);
      expect(getMock.mock.calls[0]![1]).toBeGreaterThan(0);
    });

    it('shortens a retry’s time limit to what is left of the deadline', async () => {
      const answers = [reply(RECORDED.busy), reply(RECORDED.success)];
      const { auth, getMock } = client(async () => answers.shift()!, {
        timeoutMs: 3000,
        deadlineMs: 2000,
        busyBackoffMs: [100],
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      });
      await expect(auth.code2Session('c')).resolves.toMatchObject({ openid: 'oRhHa1XxnSTM2w3ybVq7VL6Hb' });
      const [first, second] = getMock.mock.calls.map(([, ms]) => ms);
      expect(first).toBeLessThanOrEqual(2000);
      // The retry waited 100 ms (jitter 0.5 + 0.5) and gets what is left, not a fresh 3 s
      // (90: Date.now() counts whole milliseconds, so a 100 ms timer can read as 99).
      expect(second).toBeLessThanOrEqual(first! - 90);
    });

    it('maps a refused connection to WECHAT_UNAVAILABLE, naming only the system error', async () => {
      const refused = Object.assign(new Error(`connect ECONNREFUSED api.weixin.qq.com/?secret=${SECRET}`), { code: 'ECONNREFUSED' });
      const { auth } = client(async () => {
        throw refused;
      });
      const err = await failure(auth.code2Session('c'));
      expect(err.code).toBe('WECHAT_UNAVAILABLE');
      expect(err.details).toMatchObject({ reason: 'network error', cause: 'ECONNREFUSED' });
    });

    it.each([
      ['HTTP 500', () => reply('<html>500</html>', 500)],
      ['HTTP 502', () => reply('', 502)],
      ['an HTML page', () => reply('<html><body>busy</body></html>', 200)],
      ['an empty body', () => reply('')],
      ['a JSON array', () => reply('[]')],
      ['a JSON string', () => reply('"ok"')],
      ['an answer without session_key', () => reply('{"openid":"o1"}')],
      ['an answer with an empty openid', () => reply('{"openid":"","session_key":"k"}')],
    ])('maps %s to WECHAT_UNAVAILABLE', async (_name, make) => {
      const { auth, getMock } = client(async () => make());
      expect((await failure(auth.code2Session('c'))).code).toBe('WECHAT_UNAVAILABLE');
      expect(getMock).toHaveBeenCalledTimes(1);
    });

    it('never puts the AppSecret or the URL in an error it raises', async () => {
      const cases = [
        async () => reply(RECORDED.badSecret),
        async () => reply('<html/>', 500),
        async () => {
          throw Object.assign(new Error(`getaddrinfo ENOTFOUND https://api.weixin.qq.com/sns/jscode2session?secret=${SECRET}`), {
            code: 'ENOTFOUND',
          });
        },
      ];
      for (const make of cases) {
        const { auth } = client(make);
        const err = await failure(auth.code2Session('the-code'));
        const visible = JSON.stringify({ message: err.message, details: err.details, cause: String(err.cause) });
        expect(visible).not.toContain(SECRET);
        expect(visible).not.toContain('jscode2session?');
      }
    });
  });
});

describe('Class: HttpWechatAuth, the OAuth exchange (a 公众号 page’s or an App’s code)', () => {
  const oauth = (body: string) => client(async () => reply(body), { grant: 'oauth2' });

  it('asks sns/oauth2/access_token with `code`, and keeps the openid and unionid, never WeChat’s user tokens', async () => {
    const { auth, getMock } = oauth('{"access_token":"ACCESS-xyz","expires_in":7200,"refresh_token":"REFRESH-xyz","openid":"oW-1","scope":"snsapi_userinfo","unionid":"oU-1"}');
    const session = await auth.code2Session('081code');
    expect(session).toEqual({ openid: 'oW-1', unionid: 'oU-1' });
    expect(JSON.stringify(session)).not.toMatch(/ACCESS|REFRESH/);
    const url = new URL(getMock.mock.calls[0]![0]);
    expect(url.pathname).toBe('/sns/oauth2/access_token');
    expect(url.searchParams.get('code')).toBe('081code');
    expect(url.searchParams.has('js_code')).toBe(false);
  });

  it('marks a snapshot page’s visitor (is_snapshotuser: 1)', async () => {
    const { auth } = oauth('{"access_token":"A","expires_in":7200,"refresh_token":"R","openid":"oV","scope":"snsapi_userinfo","is_snapshotuser":1,"unionid":"oUV"}');
    await expect(auth.code2Session('c')).resolves.toMatchObject({ openid: 'oV', snapshot: true });
  });

  it('maps errcodes as jscode2session’s, naming the exchange in its errors', async () => {
    await expect(oauth(RECORDED.codeUsed).auth.code2Session('c')).rejects.toMatchObject({ code: 'INVALID_CODE' });
    await expect(oauth(RECORDED.blocked).auth.code2Session('c')).rejects.toMatchObject({ code: 'USER_BLOCKED' });
    await expect(oauth(RECORDED.badAppid).auth.code2Session('c')).rejects.toMatchObject({ code: 'WECHAT_ERROR', message: expect.stringContaining('sns/oauth2/access_token') });
    await expect(oauth('{"scope":"snsapi_base"}').auth.code2Session('c')).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE', message: expect.stringContaining('sns/oauth2/access_token failed: reply without openid') });
  });
});
