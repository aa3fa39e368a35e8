import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { listen, sendJson, type RunningServer } from './http-util';

/**
 * A stand-in for WeChat's `GET /sns/jscode2session`, answering the way the real one does
 * (JSON with a text/plain content type, errmsg with a rid suffix). The code's shape decides:
 *
 *   NAME, NAME.ANYTHING   logs in user NAME: stable openid per appid+NAME, fresh session_key;
 *                         ANYTHING starting with "union" adds a unionid (stable per NAME)
 *   errcode.N             errcode N (N may be negative: errcode.-1) with WeChat's message
 *   delay.MS.REST         waits MS milliseconds, then answers for REST
 *   http.STATUS           an HTML error page with that HTTP status
 *   html | empty          a 200 with an HTML page | an empty body
 *   drop                  closes the connection without answering
 *
 * Each exact login code can be exchanged once (then 40163), and a wrong appid/secret pair
 * answers 40013/40125, as WeChat does.
 */
export interface WechatStubStats {
  calls: number;
  /** Every session_key handed out, so tests can prove none of them leaks. */
  sessionKeys: string[];
}

export interface RunningWechatStub extends RunningServer {
  stats: WechatStubStats;
  resetStats(): void;
  /** Whether the stub has exchanged `code` already (a second exchange would answer 40163). */
  consumed(code: string): boolean;
}

export const WECHAT_MESSAGES: Record<number, string> = {
  [-1]: 'system error',
  40002: 'invalid grant_type',
  40013: 'invalid appid',
  40029: 'invalid code',
  40125: 'invalid appsecret',
  40163: 'code been used',
  40164: 'invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist',
  40226: 'code blocked',
  41008: 'missing code',
  45011: 'api minute-quota reach limit  mustslower  retry next minute',
};

const rid = () => [4, 4, 4].map((n) => randomBytes(n).toString('hex')).join('-');
const digest = (input: string) => createHash('sha256').update(input).digest('base64url');

export function stubOpenid(appId: string, name: string): string {
  return `o${digest(`openid|${appId}|${name}`).slice(0, 27)}`;
}

export function stubUnionid(name: string): string {
  return `o${digest(`unionid|${name}`).slice(0, 27)}`;
}

export async function startWechatStub(options: { appId: string; appSecret: string; port?: number }): Promise<RunningWechatStub> {
  const used = new Set<string>();
  const stats: WechatStubStats = { calls: 0, sessionKeys: [] };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    if (url.pathname !== '/sns/jscode2session') return sendJson(res, 404, { errcode: 404, errmsg: 'not found' });
    stats.calls++;
    const reply = (body: object) => sendJson(res, 200, body, 'text/plain');
    const fail = (errcode: number) =>
      reply({ errcode, errmsg: `${WECHAT_MESSAGES[errcode] ?? `errcode ${errcode}`}, rid: ${rid()}` });

    const q = url.searchParams;
    let code = q.get('js_code') ?? '';
    for (let delay = /^delay\.(\d+)\.(.+)$/.exec(code); delay; delay = /^delay\.(\d+)\.(.+)$/.exec(code)) {
      await new Promise((resolve) => setTimeout(resolve, Number(delay![1])));
      if (res.destroyed) return;
      code = delay[2]!;
    }

    if (q.get('appid') !== options.appId) return fail(40013);
    if (q.get('secret') !== options.appSecret) return fail(40125);
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

    if (used.has(code)) return fail(40163);
    used.add(code);
    const [name, rest = ''] = splitOnce(code, '.');
    const sessionKey = randomBytes(16).toString('base64');
    stats.sessionKeys.push(sessionKey);
    return reply({
      session_key: sessionKey,
      openid: stubOpenid(options.appId, name),
      ...(rest.startsWith('union') ? { unionid: stubUnionid(name) } : {}),
    });
  });

  const running = await listen(server, options.port);
  return {
    ...running,
    stats,
    resetStats() {
      stats.calls = 0;
      stats.sessionKeys = [];
    },
    consumed: (code) => used.has(code),
  };
}

function splitOnce(value: string, separator: string): [string, string?] {
  const at = value.indexOf(separator);
  return at < 0 ? [value] : [value.slice(0, at), value.slice(at + 1)];
}
