import http from 'node:http';
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { listen, readBody, sendJson, type RunningServer } from './http-util';

/**
 * A stand-in for WeChat's `GET /sns/jscode2session`, `GET /sns/oauth2/access_token`, `POST /cgi-bin/stable_token`,
 * `POST /wxa/business/getuserphonenumber` and `POST /wxa/msg_sec_check`, answering the way the
 * real ones do (JSON with a text/plain content type, errmsg with a rid suffix).
 *
 * jscode2session: the login code's shape decides:
 *
 *   NAME, NAME.ANYTHING   logs in user NAME: stable openid per appid+NAME, fresh session_key;
 *                         ANYTHING starting with "union" adds a unionid (stable per NAME)
 *   errcode.N             errcode N (N may be negative: errcode.-1) with WeChat's message
 *   delay.MS.REST         waits MS milliseconds, then answers for REST (past the service's
 *                         WECHAT_TIMEOUT_MS, 3000 by default, it answers 503 WECHAT_UNAVAILABLE
 *                         first: delay.5000.bob does, delay.2000.bob logs bob in late)
 *   http.STATUS           an HTML error page with that HTTP status
 *   html | empty          a 200 with an HTML page | an empty body
 *   drop                  closes the connection without answering
 *
 * Each exact login code can be exchanged once per app (then 40163), and a wrong appid/secret
 * pair answers 40013/40125, as WeChat does. The stub serves one app, or several bound to one
 * open platform (`moreApps`): NAME's openid differs per app, its unionid is the same in all.
 *
 * sns/oauth2/access_token: a 公众号's or an App's OAuth code (each such app's own; a mini-program's
 * AppID is 40013 there), with the same grammar plus `NAME.userinfo.union…` (snsapi_userinfo with
 * the unionid), `NAME.base…` (snsapi_base) and `snapshot.NAME…` (is_snapshotuser: 1): oauthAnswer.
 *
 * stable_token checks the appid/secret pair the same way and, in normal mode, hands out the
 * current access token with expires_in 7200 (force_refresh: true replaces it, as WeChat does).
 *
 * jscode2session hands each mini-program user a fresh session_key that replaces their last one, as
 * WeChat's does; checksession (GET, the app's access token, openid, signature = hex
 * hmac_sha256 keyed with the session_key over "", sig_method=hmac_sha256) answers 0 for the
 * user's current key and 87009 for a replaced one. POST /__stub/opendata {appid?, name, data,
 * watermark?} (test-only) answers {encryptedData, iv}: `data` with the app's fresh watermark
 * (or the one given), encrypted as a wx API's would be with user NAME's current session_key.
 *
 * getuserphonenumber refuses a missing, unknown or replaced access token with 40001; then the
 * phone code's shape decides (each exact code is accepted once, then 40029):
 *
 *   DIGITS, DIGITS.ANYTHING          countryCode 86 and that number (5–15 digits)
 *   CC-DIGITS, CC-DIGITS.ANYTHING    that country code and number; phoneNumber "+CC DIGITS"
 *                                    (plain DIGITS for 86, as WeChat sends Chinese numbers)
 *   …ANYTHING containing "numcc"     countryCode as a JSON number (WeChat sends either)
 *   errcode.N                        errcode N with WeChat's message (not consumed)
 *   delay.MS.REST                    waits MS milliseconds, then answers for REST
 *   rotate.REST                      the first time: replaces the access token the request
 *                                    carries and answers 40001 without consuming the code;
 *                                    after that, answers for REST
 *
 * msg_sec_check (version 2) refuses a missing, unknown or replaced access token with 40001;
 * then an empty body with 44002, a body that is not {version: 2, openid, scene, content} with
 * 47001 and a scene outside 1–4 with 40129 (its documented errcodes). The content decides:
 *
 *   errcode.N                        errcode N with WeChat's message
 *   delay.MS.REST                    waits MS milliseconds, then answers for REST
 *   …containing "risky"              suggest risky, label 20002 (色情)
 *   …containing "review"             suggest review, label 20001 (时政)
 *   anything else                    suggest pass, label 100 (正常)
 */
export interface WechatStubStats {
  /** jscode2session requests. */
  calls: number;
  /** Every session_key handed out, so tests can prove none of them leaks. */
  sessionKeys: string[];
  /** stable_token requests, answered or refused. */
  stableTokenCalls: number;
  /** getuserphonenumber requests, answered or refused. */
  phoneCalls: number;
  /** msg_sec_check requests, answered or refused. */
  contentChecks: number;
  /** checksession requests, answered or refused. */
  sessionChecks: number;
  /** Every access token handed out, so tests can prove none of them leaks. */
  accessTokens: string[];
  /** Every user access_token of an OAuth exchange, so tests can prove none is kept or logged. */
  oauthTokens: string[];
}

export interface RunningWechatStub extends RunningServer {
  stats: WechatStubStats;
  resetStats(): void;
  /** Whether the stub has exchanged `code` already, for the default app or `appid` (a second exchange would answer 40163). */
  consumed(code: string, appid?: string): boolean;
  /** Whether the stub has answered phone code `code` already (a second time would answer 40029). */
  phoneCodeConsumed(code: string): boolean;
  /** Invalidates the current access token of the default app or `appid` (later calls with it answer 40001) and makes a new one current. */
  rotateToken(appid?: string): void;
  /** Resets the AppSecret, as the console's reset does: the old one answers 40125 from now on. */
  setAppSecret(secret: string): void;
}

export const WECHAT_MESSAGES: Record<number, string> = {
  [-1]: 'system error',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40001: 'invalid credential, access_token is invalid or not latest',
  40029: 'invalid code',
  40125: 'invalid appsecret',
  40129: 'invalid scene',
  40163: 'code been used',
  40164: 'invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist',
  40226: 'code blocked',
  41008: 'missing code',
  43002: 'require POST method',
  43104: 'The openid does not match the appid',
  44002: 'empty post data',
  44991: 'reach max api minute frequence',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit  mustslower  retry next minute',
  47001: 'data format error',
  48001: 'api unauthorized',
  61010: 'code is expired',
};

const rid = () => [4, 4, 4].map((n) => randomBytes(n).toString('hex')).join('-');
const digest = (input: string) => createHash('sha256').update(input).digest('base64url');

export function stubOpenid(appId: string, name: string): string {
  return `o${digest(`openid|${appId}|${name}`).slice(0, 27)}`;
}

export function stubUnionid(name: string): string {
  return `o${digest(`unionid|${name}`).slice(0, 27)}`;
}

export async function startWechatStub(options: {
  appId: string;
  appSecret: string;
  /**
   * Other apps of the same open platform: AppID → its AppSecret (a mini-program), or its
   * AppSecret and kind: a 公众号 (`officialAccount`) or an App (`mobileApp`), whose codes are
   * exchanged at sns/oauth2/access_token, not jscode2session.
   */
  moreApps?: Readonly<Record<string, string | { secret: string; kind: 'miniprogram' | 'officialAccount' | 'mobileApp' }>>;
  port?: number;
}): Promise<RunningWechatStub> {
  /** `<appid>|<code>` of each code exchanged. */
  const used = new Set<string>();
  const usedPhoneCodes = new Set<string>();
  let appSecret = options.appSecret;
  /** The secret of each app the stub serves (the default app's may be changed: setAppSecret). */
  const more = (appid: string) => {
    const app = options.moreApps?.[appid];
    return typeof app === 'string' ? { secret: app, kind: 'miniprogram' as const } : app;
  };
  const secretOf = (appid: unknown) => (appid === options.appId ? appSecret : typeof appid === 'string' ? more(appid)?.secret : undefined);
  const kindOf = (appid: string) => (appid === options.appId ? 'miniprogram' : more(appid)?.kind);
  /** Phone codes whose `rotate.` has been played: their next presentation is answered. */
  const rotated = new Set<string>();
  const stats: WechatStubStats = { calls: 0, sessionKeys: [], stableTokenCalls: 0, phoneCalls: 0, contentChecks: 0, sessionChecks: 0, accessTokens: [], oauthTokens: [] };
  // Each app's one valid access token; a replaced one is simply no longer it. WeChat's are
  // opaque strings of up to 512 characters; 64 random base64url characters stand in.
  const tokens = new Map<string, string>();
  const rotateToken = (appid: string = options.appId) => {
    const token = randomBytes(48).toString('base64url');
    tokens.set(appid, token);
    stats.accessTokens.push(token);
  };
  for (const appid of [options.appId, ...Object.keys(options.moreApps ?? {})]) rotateToken(appid);
  /** The app whose current token `presented` is, if any. */
  const appOfToken = (presented: string | null) => [...tokens].find(([, token]) => token === presented)?.[0];
  /** The app each openid the stub handed out is of: a call naming one in another app's name is 43104. */
  const appOfOpenid = new Map<string, string>();
  /** Each mini-program user's current session_key: a later jscode2session replaces it, as WeChat's does. */
  const currentKey = new Map<string, string>();

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    const reply = (body: object) => sendJson(res, 200, body, 'text/plain');
    const fail = (errcode: number) =>
      reply({ errcode, errmsg: `${WECHAT_MESSAGES[errcode] ?? `errcode ${errcode}`}, rid: ${rid()}` });

    if (url.pathname === '/cgi-bin/stable_token') {
      stats.stableTokenCalls++;
      const body = await readJson(req);
      if (req.method !== 'POST') return fail(43002);
      if (!body) return fail(47001);
      const secret = secretOf(body.appid);
      if (secret === undefined) return fail(40013);
      if (body.secret !== secret) return fail(40125);
      if (body.grant_type !== 'client_credential') return fail(40002);
      if (body.force_refresh === true) rotateToken(body.appid as string);
      // Normal mode: the app's current token, whoever asks and however often.
      return reply({ access_token: tokens.get(body.appid as string), expires_in: 7200 });
    }

    if (url.pathname === '/wxa/business/getuserphonenumber') {
      stats.phoneCalls++;
      const body = await readJson(req);
      if (req.method !== 'POST') return fail(43002);
      const presented = url.searchParams.get('access_token');
      const tokenApp = appOfToken(presented);
      if (!tokenApp) return fail(40001);
      if (!body || typeof body.code !== 'string' || !body.code) return fail(47001);
      if (typeof body.openid === 'string' && appOfOpenid.has(body.openid) && appOfOpenid.get(body.openid) !== tokenApp) return fail(43104);
      const code = body.code;
      let rest = code;
      for (let delay = /^delay\.(\d+)\.(.+)$/.exec(rest); delay; delay = /^delay\.(\d+)\.(.+)$/.exec(rest)) {
        await new Promise((resolve) => setTimeout(resolve, Number(delay![1])));
        if (res.destroyed) return;
        rest = delay[2]!;
      }
      const rotate = /^rotate\.(.+)$/.exec(rest);
      if (rotate) {
        if (!rotated.has(code)) {
          rotated.add(code);
          // The token this request carries, which a delay may already have replaced.
          if (presented === tokens.get(tokenApp)) rotateToken(tokenApp);
          return fail(40001);
        }
        rest = rotate[1]!;
      }
      const errcode = /^errcode\.(-?\d+)$/.exec(rest);
      if (errcode) return fail(Number(errcode[1]));
      const phone = /^(?:(\d{1,4})-)?(\d{5,15})(?:\.(.*))?$/.exec(rest);
      if (!phone || usedPhoneCodes.has(code)) return fail(40029);
      usedPhoneCodes.add(code);
      const [, cc = '86', digits, anything = ''] = phone;
      return reply({
        errcode: 0,
        errmsg: 'ok',
        phone_info: {
          phoneNumber: cc === '86' ? digits : `+${cc} ${digits}`,
          purePhoneNumber: digits,
          countryCode: anything.includes('numcc') ? Number(cc) : cc,
          watermark: { timestamp: Math.floor(Date.now() / 1000), appid: tokenApp },
        },
      });
    }

    if (url.pathname === '/wxa/checksession') {
      // signature = hex hmac_sha256 keyed with the session_key string as WeChat sent it, over "".
      stats.sessionChecks++;
      if (req.method !== 'GET') return fail(43001);
      const tokenApp = appOfToken(url.searchParams.get('access_token'));
      if (!tokenApp) return fail(40001);
      const openid = url.searchParams.get('openid') ?? '';
      const signature = url.searchParams.get('signature') ?? '';
      if (!openid || !signature || url.searchParams.get('sig_method') !== 'hmac_sha256') return fail(47001);
      if (appOfOpenid.get(openid) !== tokenApp) return fail(40003);
      const key = currentKey.get(openid);
      return key && createHmac('sha256', key).update('').digest('hex') === signature ? reply({ errcode: 0, errmsg: 'ok' }) : fail(87009);
    }

    if (url.pathname === '/__stub/opendata') {
      // Test-only: what a wx API (getWeRunData, getShareInfo, …) would hand the page of the
      // user NAME of the app, encrypted with that user's current session_key.
      const body = await readJson(req);
      const appid = typeof body?.appid === 'string' ? body.appid : options.appId;
      if (!body || typeof body.name !== 'string' || body.data === null || typeof body.data !== 'object') return sendJson(res, 400, { message: 'POST {appid?, name, data, watermark?}' });
      const key = currentKey.get(stubOpenid(appid, body.name));
      if (!key) return sendJson(res, 404, { message: `user ${body.name} has not logged in to ${appid}` });
      // A given watermark as given (null included: data without one); else the app's, fresh.
      const watermark = 'watermark' in body ? body.watermark : { timestamp: Math.floor(Date.now() / 1000), appid };
      const iv = randomBytes(16);
      const cipher = createCipheriv('aes-128-cbc', Buffer.from(key, 'base64'), iv);
      const encryptedData = Buffer.concat([cipher.update(JSON.stringify({ ...(body.data as object), watermark }), 'utf8'), cipher.final()]).toString('base64');
      return sendJson(res, 200, { encryptedData, iv: iv.toString('base64') });
    }

    if (url.pathname === '/wxa/msg_sec_check') {
      stats.contentChecks++;
      const text = await readText(req);
      if (req.method !== 'POST') return fail(43002);
      const presented = url.searchParams.get('access_token');
      const tokenApp = appOfToken(presented);
      if (!tokenApp) return fail(40001);
      if (text === '') return fail(44002);
      const body = text === null ? null : parseObject(text);
      // The v2 docs type version and scene as numbers; WeChat is said to take version "2" as
      // well, the stub does not, so a client that sends the wrong type is caught here.
      if (!body || body.version !== 2 || typeof body.openid !== 'string' || !body.openid || typeof body.content !== 'string' || !body.content || typeof body.scene !== 'number') {
        return fail(47001);
      }
      if (![1, 2, 3, 4].includes(body.scene)) return fail(40129);
      if (appOfOpenid.has(body.openid) && appOfOpenid.get(body.openid) !== tokenApp) return fail(43104);
      let rest = body.content;
      for (let delay = /^delay\.(\d+)\.(.+)$/.exec(rest); delay; delay = /^delay\.(\d+)\.(.+)$/.exec(rest)) {
        await new Promise((resolve) => setTimeout(resolve, Number(delay![1])));
        if (res.destroyed) return;
        rest = delay[2]!;
      }
      const errcode = /^errcode\.(-?\d+)$/.exec(rest);
      if (errcode) return fail(Number(errcode[1]));
      // The worst verdict wins, as in WeChat's result, which combines its strategies.
      const [suggest, label] = rest.includes('risky') ? ['risky', 20002] : rest.includes('review') ? ['review', 20001] : ['pass', 100];
      return reply({
        errcode: 0,
        errmsg: 'ok',
        detail: [
          { strategy: 'content_model', errcode: 0, suggest, label, prob: 90 },
          { strategy: 'keyword', errcode: 0 },
        ],
        trace_id: rid(),
        result: { suggest, label },
      });
    }

    const oauth = url.pathname === '/sns/oauth2/access_token';
    if (url.pathname !== '/sns/jscode2session' && !oauth) return sendJson(res, 404, { errcode: 404, errmsg: 'not found' });
    stats.calls++;

    const q = url.searchParams;
    let code = q.get(oauth ? 'code' : 'js_code') ?? '';
    for (let delay = /^delay\.(\d+)\.(.+)$/.exec(code); delay; delay = /^delay\.(\d+)\.(.+)$/.exec(code)) {
      await new Promise((resolve) => setTimeout(resolve, Number(delay![1])));
      if (res.destroyed) return;
      code = delay[2]!;
    }

    const appid = q.get('appid') ?? '';
    const secret = secretOf(appid);
    // A mini-program's codes go to jscode2session, a 公众号's and an App's to the OAuth exchange.
    if (secret === undefined || (kindOf(appid) === 'miniprogram') === oauth) return fail(40013);
    if (q.get('secret') !== secret) return fail(40125);
    if (q.get('grant_type') !== 'authorization_code') return fail(40002);
    if (!code) return fail(41008);

    const errcode = /^errcode\.(-?\d+)$/.exec(code);
    if (errcode) return fail(Number(errcode[1]));
    const status = /^http\.(\d{3})$/.exec(code);
    if (status) {
      res.writeHead(Number(status[1]), { 'content-type': 'text/html' });
      return res.end(`<html><body><h1>${status[1]}</h1></body></html>`);
    }
    if (code === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<html><body>Service busy</body></html>');
    }
    if (code === 'empty') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end();
    }
    if (code === 'drop') return res.socket?.destroy();

    if (used.has(`${appid}|${code}`)) return fail(40163);
    used.add(`${appid}|${code}`);
    if (oauth) return reply(oauthAnswer(appid, kindOf(appid)!, code));
    const [name, rest = ''] = splitOnce(code, '.');
    const sessionKey = randomBytes(16).toString('base64');
    stats.sessionKeys.push(sessionKey);
    const openid = stubOpenid(appid, name);
    appOfOpenid.set(openid, appid);
    currentKey.set(openid, sessionKey);
    return reply({
      session_key: sessionKey,
      openid,
      ...(rest.startsWith('union') ? { unionid: stubUnionid(name) } : {}),
    });
  });

  /**
   * sns/oauth2/access_token for a 公众号's or an App's code: its openid, a user access_token and
   * refresh_token (which the service must drop), the scope and, as WeChat does, the unionid only
   * for snsapi_userinfo (`NAME.userinfo.union…`) or an App (`NAME.union…`); `NAME.base…` is
   * snsapi_base; `snapshot.NAME` a snapshot page's virtual visitor (is_snapshotuser: 1).
   */
  const oauthAnswer = (appid: string, kind: string, code: string) => {
    const snapshot = code.startsWith('snapshot.');
    const [name, rest = ''] = splitOnce(snapshot ? code.slice('snapshot.'.length) : code, '.');
    const base = kind === 'officialAccount' && rest.startsWith('base');
    const withUnionid = kind === 'officialAccount' ? rest.startsWith('userinfo.union') : rest.startsWith('union');
    const openid = snapshot ? stubOpenid(appid, `snapshot|${name}`) : stubOpenid(appid, name);
    if (!snapshot) appOfOpenid.set(openid, appid);
    const accessToken = randomBytes(24).toString('base64url');
    stats.oauthTokens.push(accessToken);
    return {
      access_token: accessToken,
      expires_in: 7200,
      refresh_token: randomBytes(24).toString('base64url'),
      openid,
      scope: base ? 'snsapi_base' : 'snsapi_userinfo',
      ...(withUnionid ? { unionid: snapshot ? stubUnionid(`snapshot|${name}`) : stubUnionid(name) } : {}),
      ...(snapshot ? { is_snapshotuser: 1 } : {}),
    };
  };

  const running = await listen(server, options.port);
  return {
    ...running,
    stats,
    resetStats() {
      stats.calls = 0;
      stats.sessionKeys = [];
      stats.stableTokenCalls = 0;
      stats.phoneCalls = 0;
      stats.contentChecks = 0;
      stats.sessionChecks = 0;
      stats.accessTokens = [...tokens.values()];
      stats.oauthTokens = [];
    },
    consumed: (code, appid = options.appId) => used.has(`${appid}|${code}`),
    phoneCodeConsumed: (code) => usedPhoneCodes.has(code),
    rotateToken,
    setAppSecret(secret) {
      appSecret = secret;
    },
  };
}

/** A JSON object body, or null when it is not one (WeChat answers 47001). */
async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown> | null> {
  const text = await readText(req);
  return text === null ? null : parseObject(text);
}

/** The body as text, or null when it is too large to read. */
async function readText(req: http.IncomingMessage): Promise<string | null> {
  try {
    return (await readBody(req, 64 * 1024)).toString('utf8');
  } catch {
    return null;
  }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function splitOnce(value: string, separator: string): [string, string?] {
  const at = value.indexOf(separator);
  return at < 0 ? [value] : [value.slice(0, at), value.slice(at + 1)];
}
