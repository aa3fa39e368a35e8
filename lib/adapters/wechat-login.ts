import { recordedJson, send, withFallback, type Recording, type Transport } from './http';
import { AppError, CredentialsRejected } from '../errors';
import { BUSY, parseAnswer, retryWhileBusy, sleeper, transportFailure, type Unavailable } from './wechat-shared';
import type { WechatAuth, WechatSession } from '../login/ports';

export interface WechatClientOptions {
  /**
   * Which exchange: a mini-program's `wx.login()` code at `jscode2session` (the default), or a
   * 公众号 page's or an App's OAuth code at `sns/oauth2/access_token` (its access_token and
   * refresh_token are dropped as they arrive: never kept, never logged).
   */
  grant?: 'jscode2session' | 'oauth2';
  appId: string;
  appSecret: string;
  /** e.g. https://api.weixin.qq.com — the local stub stands in here. */
  apiBase: string;
  /** Where the exchange goes when `apiBase` cannot be reached before it is sent (lib/adapters/http.ts withFallback). */
  fallbackBase?: string;
  timeoutMs: number;
  deadlineMs: number;
  /** Waits before the 1st and 2nd retry of a busy (-1) answer; jitter is added. */
  busyBackoffMs?: readonly number[];
  /** The keep-alive node:http transport (lib/adapters/http.ts) by default; the login's carries its rehearsal. */
  transport?: Pick<Transport, 'send'>;
  /** In place of the transport (tests). */
  get?: TimedGet;
  /** Told how long each exchange took, retries included, and how it ended. */
  onExchange?: (ms: number, outcome: string) => void;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** errcodes documented for jscode2session (plus 40163, which WeChat sends but does not list). */
export const WECHAT_ERRCODES = {
  BUSY: -1,
  INVALID_CODE: 40029,
  CODE_USED: 40163,
  HIGH_RISK_USER: 40226,
  MINUTE_QUOTA: 45011,
  /** The AppSecret is not WECHAT_APPID's (reset in the console?). */
  BAD_SECRET: 40125,
} as const;

/**
 * One HTTP GET that gives up after `timeoutMs`, rejecting with an error named TimeoutError.
 * A plain time limit rather than an AbortSignal: AbortSignal.timeout() costs a login about
 * 0.1 ms of CPU (`npm run bench`), and nothing else ever aborts this call.
 */
export type TimedGet = (url: string, timeoutMs: number) => Promise<{ status: number; body: string }>;

// Not idempotent: WeChat consumes the code on the first exchange that reaches it, so a copy
// sent after a reset would only come back 40163.
const httpGet =
  (transport: Pick<Transport, 'send'>): TimedGet =>
  (url, timeoutMs) =>
    transport.send(url, { method: 'GET', timeoutMs, idempotent: false });

/**
 * What jscode2session answers a login, for a rehearsal (lib/login/prime.ts): a session, as
 * WeChat frames it (JSON with a text/plain content type).
 */
export function recordedExchange(): Recording {
  return ({ method, url }) =>
    method === 'GET' && url.includes('/sns/jscode2session?')
      ? recordedJson(200, { openid: 'o-rehearsal', session_key: 'cmVoZWFyc2FsLWtleS0xMg==' }, { 'content-type': 'text/plain' })
      : undefined;
}

type Reply = { kind: 'session'; session: WechatSession } | { kind: 'errcode'; errcode: number; errmsg: string };

/**
 * `GET /sns/jscode2session` with a per-call timeout and an overall deadline.
 *
 * WeChat quirks handled here: the JSON comes with a text/plain content type, so the body is
 * read as text and parsed; success has no errcode (older answers carried errcode 0); -1 means
 * busy and is the only answer worth retrying. A timed-out call is not retried, because WeChat
 * may have consumed the single-use code already.
 *
 * The request URL holds the AppSecret, so no error raised here ever carries the URL or a
 * message from the HTTP stack, only the name of what failed.
 */
export class HttpWechatAuth implements WechatAuth {
  private readonly get: TimedGet;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly backoff: readonly number[];
  private readonly endpoint: string;
  /** The exchange's name in errors and logs. */
  private readonly api: string;
  private readonly unavailable: Unavailable;

  constructor(private readonly options: WechatClientOptions) {
    this.api = options.grant === 'oauth2' ? 'sns/oauth2/access_token' : 'jscode2session';
    this.unavailable = unavailableFor(this.api);
    // A request that never left (no name, a refused connection) goes to the fallback domain; one
    // that may have reached WeChat never goes again: it used the code up.
    this.get = options.get ?? httpGet(withFallback(options.transport ?? { send }, options.apiBase, options.fallbackBase));
    this.sleep = options.sleep ?? sleeper;
    this.random = options.random ?? Math.random;
    this.backoff = options.busyBackoffMs ?? [100, 300];
    this.endpoint = `${options.apiBase.replace(/\/+$/, '')}${options.grant === 'oauth2' ? '/sns/oauth2/access_token' : '/sns/jscode2session'}`;
  }

  async code2Session(code: string): Promise<WechatSession> {
    const started = Date.now();
    try {
      const session = await this.exchange(code);
      this.options.onExchange?.(Date.now() - started, 'OK');
      return session;
    } catch (err) {
      this.options.onExchange?.(Date.now() - started, err instanceof AppError ? err.code : 'INTERNAL');
      throw err;
    }
  }

  private async exchange(code: string): Promise<WechatSession> {
    const retry = {
      deadline: Date.now() + this.options.deadlineMs,
      timeoutMs: this.options.timeoutMs,
      backoffMs: this.backoff,
      now: Date.now,
      sleep: this.sleep,
      random: this.random,
    };
    const reply = await retryWhileBusy((timeoutMs) => this.call(code, timeoutMs), retry, this.unavailable);
    if (reply.kind === 'errcode') throw mapErrcode(reply.errcode, reply.errmsg, this.api);
    return reply.session;
  }

  private async call(code: string, timeoutMs: number): Promise<Reply | typeof BUSY> {
    const query = new URLSearchParams({
      appid: this.options.appId,
      secret: this.options.appSecret,
      [this.options.grant === 'oauth2' ? 'code' : 'js_code']: code,
      grant_type: 'authorization_code',
    });
    let answer: { status: number; body: string };
    try {
      answer = await this.get(`${this.endpoint}?${query}`, timeoutMs);
    } catch (err) {
      throw transportFailure(err, timeoutMs, this.unavailable);
    }
    if (answer.status < 200 || answer.status >= 300) throw this.unavailable('http status', { httpStatus: answer.status });
    return this.options.grant === 'oauth2' ? parseOAuthReply(answer.body, this.unavailable) : parseReply(answer.body, this.unavailable);
  }
}

function parseReply(text: string, unavailable: Unavailable): Reply | typeof BUSY {
  const { errcode, errmsg, body: reply } = parseAnswer(text, unavailable);
  if (errcode === BUSY) return BUSY;
  if (errcode !== 0) return { kind: 'errcode', errcode, errmsg };
  const { openid, session_key: sessionKey, unionid } = reply;
  if (typeof openid !== 'string' || !openid || typeof sessionKey !== 'string' || !sessionKey) {
    throw unavailable('reply without openid or session_key', { fields: Object.keys(reply) });
  }
  return {
    kind: 'session',
    session: typeof unionid === 'string' && unionid ? { openid, sessionKey, unionid } : { openid, sessionKey },
  };
}

/**
 * sns/oauth2/access_token's answer: the openid, the unionid when WeChat sends it (snsapi_userinfo,
 * or an App), and whether the user is a snapshot page's virtual visitor. Its access_token and
 * refresh_token are not read out of the parsed body: nothing keeps or logs them.
 */
function parseOAuthReply(text: string, unavailable: Unavailable): Reply | typeof BUSY {
  const { errcode, errmsg, body: reply } = parseAnswer(text, unavailable);
  if (errcode === BUSY) return BUSY;
  if (errcode !== 0) return { kind: 'errcode', errcode, errmsg };
  const { openid, unionid, is_snapshotuser: snapshot } = reply;
  if (typeof openid !== 'string' || !openid) throw unavailable('reply without openid', { fields: Object.keys(reply) });
  return {
    kind: 'session',
    session: { openid, ...(typeof unionid === 'string' && unionid ? { unionid } : {}), ...(snapshot === 1 ? { snapshot: true as const } : {}) },
  };
}

function mapErrcode(errcode: number, errmsg: string, api: string): AppError {
  // errmsg is WeChat's own text (e.g. "invalid code, rid: …"); safe to log, never sent to clients.
  const details = { errcode, errmsg };
  switch (errcode) {
    case WECHAT_ERRCODES.INVALID_CODE:
    case WECHAT_ERRCODES.CODE_USED:
      return new AppError('INVALID_CODE', undefined, { details });
    case WECHAT_ERRCODES.HIGH_RISK_USER:
      return new AppError('USER_BLOCKED', undefined, { details });
    case WECHAT_ERRCODES.MINUTE_QUOTA:
      // The quota is per minute: the next minute is the earliest a retry can pass.
      return new AppError('RATE_LIMITED', 'WeChat login quota reached. Retry in a minute.', {
        details,
        retryAfterSeconds: 60,
      });
    default:
      // 40013 bad appid, 40125 bad secret, 40164 IP not whitelisted, …: our configuration, not the user.
      // 40125 may be a rotated AppSecret that SSM already holds: the wrapper re-reads it.
      return new AppError('WECHAT_ERROR', `${api} answered errcode ${errcode}`, {
        details,
        ...(errcode === WECHAT_ERRCODES.BAD_SECRET ? { cause: new CredentialsRejected(api) } : {}),
      });
  }
}

/** WECHAT_UNAVAILABLE, naming the exchange that failed. */
function unavailableFor(api: string): Unavailable {
  return (reason, details) => new AppError('WECHAT_UNAVAILABLE', `${api} failed: ${reason}`, { details: { reason, ...details } });
}
