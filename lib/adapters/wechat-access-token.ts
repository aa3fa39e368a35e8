import { byApp, type Apps } from '../apps';
import { send, withFallback, type SendOptions } from './http';
import { deriveId, open, seal } from '../crypto';
import { AppError, CredentialsRejected, describeCause } from '../errors';
import type { Logger } from '../logger';
import { BUSY, parseAnswer, retryWhileBusy, sleeper, transportFailure, type Answer, type Unavailable } from './wechat-shared';

/** WeChat's server APIs that take ?access_token=, with the shared, cached token. */
export interface WechatApi {
  /**
   * POSTs JSON to `path` (e.g. '/wxa/business/getuserphonenumber') with the current access
   * token. Retries -1 within the deadline; on 40001/42001/40014 refreshes the token once and
   * retries once. Returns the parsed answer when errcode is 0 or absent; any other errcode is
   * returned too (as `{ errcode, errmsg, ... }`) for the caller to map, EXCEPT the token ones
   * after the one retry and -1 after the deadline, which throw WECHAT_ERROR / WECHAT_UNAVAILABLE.
   * Transport failures throw WECHAT_UNAVAILABLE.
   */
  post(path: string, body: unknown, options?: { idempotent?: boolean }): Promise<Record<string, unknown>>;
  /** The same for a GET API (e.g. '/wxa/checksession'), its parameters in the query beside the token. */
  get(path: string, query: Record<string, string>, options?: { idempotent?: boolean }): Promise<Record<string, unknown>>;
}

/** An access token and the moment (epoch ms) to stop using it. */
export interface CachedAccessToken {
  token: string;
  expiresAt: number;
}

/** Where containers share the access token (Redis in production). */
export interface AccessTokenCache {
  /** The shared token, or null when there is none this container can use (absent, expired, sealed under another AppSecret). */
  get(): Promise<CachedAccessToken | null>;
  /** Shares `entry` for `ttlMs` (its expiresAt is that far from now). */
  set(entry: CachedAccessToken, ttlMs: number): Promise<void>;
  /** Drops the shared token only if it is still `token`: another container may have put a fresh one there already. */
  drop(token: string): Promise<void>;
}

export type WechatTransport = (
  url: string,
  init: { method: 'GET' | 'POST'; body?: string; timeoutMs: number; idempotent: boolean },
) => Promise<{ status: number; body: string }>;

export interface WechatApiDeps {
  appId: string;
  appSecret: string;
  /** e.g. https://api.weixin.qq.com — the local stub stands in here. */
  apiBase: string;
  /** Where a call goes when `apiBase` cannot be reached before it is sent (lib/adapters/http.ts withFallback). */
  fallbackBase?: string;
  /** Time limit of one HTTP call. */
  timeoutMs: number;
  /** Budget of one `post`: the token (if it must be fetched), busy retries and the one refresh included. */
  deadlineMs: number;
  cache: AccessTokenCache;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Defaults to the keep-alive node:http transport (lib/adapters/http.ts). */
  transport?: WechatTransport;
  /** Told each time this container asks stable_token for the token (for a metric, and tests). */
  onTokenFetch?: () => void;
  /** Told at warn level when the shared cache cannot be read or written (the call goes on). */
  logger?: Pick<Logger, 'warn'>;
  /** Waits before the 1st and 2nd retry of a busy (-1) answer; jitter is added. */
  busyBackoffMs?: readonly number[];
}

/**
 * How long before WeChat's expiry this service stops using a token, in seconds.
 *
 * In normal mode WeChat renews the token in its last 5 minutes: asked then, stable_token hands
 * out a new one and keeps the old one valid until its end, so expires_in is never below 300
 * (getStableAccessToken, "access_token 的存储与更新"). The margin must stay below those 300 s:
 * with a larger one we would ask again before WeChat has renewed, get the same token back with
 * less than the margin left, and never be able to cache it. It must also cover the time
 * between WeChat stamping expires_in and our cache starting its TTL (one stable_token call and
 * one Redis write, within WECHAT_DEADLINE_MS) plus the longest call that uses the token after
 * reading it (another deadline): about 10 s. 60 s covers that six times over and leaves every
 * token at least 240 s of use; a request that still meets an expired token is refreshed once
 * (42001) anyway.
 */
export const EXPIRY_MARGIN_SECONDS = 60;

/** Invalid credential, expired access_token, invalid access_token: refresh and retry once. */
export const TOKEN_ERRCODES: ReadonlySet<number> = new Set([40001, 42001, 40014]);

/** What the operator must do about a refusal of stable_token (all of them configuration). */
const STABLE_TOKEN_ACTIONS: Record<number, string> = {
  40013: 'WECHAT_APPID is not a valid AppID',
  40125: 'WECHAT_SECRET is not the AppSecret of WECHAT_APPID (was it reset in the console?)',
  40164: "this server's outbound IP is not on the mini-program's API IP whitelist",
  45009: "stable_token's daily quota is spent: something asks for the token far too often",
};

const STABLE_TOKEN = 'stable_token';

/**
 * The access token, fetched with getStableAccessToken in normal mode (never force_refresh:
 * that is limited to 20 a day and kills the token every other container is using), kept in
 * this container's memory and, sealed, in Redis for the others. A warm container asks nobody;
 * a cold one asks Redis; only when Redis has nothing does it ask stable_token, one request at
 * a time per container. Containers that start cold at the same moment may each ask once:
 * harmless in normal mode, where WeChat hands them all the same token.
 *
 * As WxJava's WxMaService does, a call refused for its token drops that token, only if it is
 * still the cached one, fetches the token again and retries once.
 *
 * The token and the AppSecret are credentials: neither is ever logged, put in an error or
 * returned. Errors name the API path, never the URL (it holds the token) nor a message from
 * the HTTP stack.
 */
export function createWechatApi(deps: WechatApiDeps): WechatApi {
  const now = deps.now ?? Date.now;
  const direct = deps.transport ?? httpTransport;
  // A call that never left (no name, a refused connection) goes to the fallback domain; one that
  // may have reached WeChat never goes again (getuserphonenumber uses its code up).
  const fallback = withFallback({ send: (url, init) => direct(url, init as Parameters<WechatTransport>[1]) }, deps.apiBase, deps.fallbackBase);
  const transport: WechatTransport = (url, init) => fallback.send(url, init as SendOptions);
  const base = deps.apiBase.replace(/\/+$/, '');
  const retry = (deadline: number) => ({
    deadline,
    timeoutMs: deps.timeoutMs,
    backoffMs: deps.busyBackoffMs ?? [100, 300],
    now,
    sleep: deps.sleep ?? sleeper,
    random: deps.random ?? Math.random,
  });
  const tokenUnavailable = unavailableFor(STABLE_TOKEN);
  const tokenRequest = JSON.stringify({ grant_type: 'client_credential', appid: deps.appId, secret: deps.appSecret, force_refresh: false });

  /** This container's copy of the token. */
  let held: CachedAccessToken | undefined;
  /** The load under way in this container, shared by every caller that needs it, and the refused token it skips. */
  let loading: { promise: Promise<string>; skipping: string | undefined } | undefined;

  async function exchange(url: string, body: string | undefined, timeoutMs: number, idempotent: boolean, unavailable: Unavailable): Promise<Answer | typeof BUSY> {
    let answer: { status: number; body: string };
    try {
      answer = await transport(url, body === undefined ? { method: 'GET', timeoutMs, idempotent } : { method: 'POST', body, timeoutMs, idempotent });
    } catch (err) {
      throw transportFailure(err, timeoutMs, unavailable);
    }
    if (answer.status < 200 || answer.status >= 300) throw unavailable('http status', { httpStatus: answer.status });
    const parsed = parseAnswer(answer.body, unavailable);
    return parsed.errcode === BUSY ? BUSY : parsed;
  }

  async function fetchToken(deadline: number): Promise<{ token: string; expiresIn: number }> {
    deps.onTokenFetch?.();
    // Normal mode asks WeChat for what it already has: safe to re-send after a reset socket.
    const answer = await retryWhileBusy(
      (timeoutMs) => exchange(`${base}/cgi-bin/stable_token`, tokenRequest, timeoutMs, true, tokenUnavailable),
      retry(deadline),
      tokenUnavailable,
    );
    if (answer.errcode !== 0) {
      throw new AppError('WECHAT_ERROR', `stable_token answered errcode ${answer.errcode}`, {
        // 40125 may be a rotated AppSecret that SSM already holds: the wrapper re-reads it.
        ...(answer.errcode === 40125 ? { cause: new CredentialsRejected(STABLE_TOKEN) } : {}),
        details: {
          api: STABLE_TOKEN,
          errcode: answer.errcode,
          errmsg: withoutSecrets(answer.errmsg, [deps.appSecret]),
          action: STABLE_TOKEN_ACTIONS[answer.errcode] ?? 'check WECHAT_APPID and WECHAT_SECRET against the mini-program console',
        },
      });
    }
    const { access_token: token, expires_in: raw } = answer.body;
    const expiresIn = typeof raw === 'number' || (typeof raw === 'string' && /^\d+$/.test(raw)) ? Number(raw) : NaN;
    // WeChat asks for room for 512 characters; a token is printable ASCII without spaces.
    if (typeof token !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(token) || !Number.isSafeInteger(expiresIn) || expiresIn <= 0) {
      throw tokenUnavailable('reply without access_token or expires_in', { fields: Object.keys(answer.body) });
    }
    return { token, expiresIn };
  }

  /** Redis first, then stable_token; `failed` is a token just refused, never taken from the cache again. */
  async function load(deadline: number, failed: string | undefined): Promise<string> {
    try {
      const shared = await deps.cache.get();
      if (shared && shared.token !== failed && shared.expiresAt > now()) {
        held = shared;
        return shared.token;
      }
    } catch (err) {
      deps.logger?.warn('access token cache unreadable: asking WeChat', { cause: describeCause(err) });
    }
    const fresh = await fetchToken(deadline);
    const ttlMs = (fresh.expiresIn - EXPIRY_MARGIN_SECONDS) * 1000;
    // WeChat documents expires_in >= 300; should it ever send less, use the token for this call only.
    if (ttlMs <= 0) return fresh.token;
    held = { token: fresh.token, expiresAt: now() + ttlMs };
    try {
      await deps.cache.set(held, ttlMs);
    } catch (err) {
      deps.logger?.warn('access token cache unwritable: the token stays in this container only', { cause: describeCause(err) });
    }
    return fresh.token;
  }

  function startLoad(deadline: number, failed: string | undefined): Promise<string> {
    const promise: Promise<string> = load(deadline, failed).finally(() => {
      if (loading?.promise === promise) loading = undefined;
    });
    loading = { promise, skipping: failed };
    return promise;
  }

  /** The token to use; with `failed`, one other than that refused token unless WeChat itself hands it out again. */
  async function currentToken(deadline: number, failed?: string): Promise<string> {
    if (held && held.token !== failed && held.expiresAt > now()) return held.token;
    if (loading && (failed === undefined || loading.skipping === failed)) return loading.promise;
    if (loading) {
      // A load that began before `failed` was refused may bring it back from Redis, or may
      // bring a fresh one: wait for it, and load again, skipping `failed`, only if needed.
      const token = await loading.promise.catch(() => undefined);
      if (token !== undefined && token !== failed) return token;
      if (loading && loading.skipping === failed) return loading.promise;
    }
    return startLoad(deadline, failed);
  }

  async function drop(token: string): Promise<void> {
    if (held?.token === token) held = undefined;
    try {
      await deps.cache.drop(token);
    } catch (err) {
      deps.logger?.warn('access token cache: could not drop a refused token', { cause: describeCause(err) });
    }
  }

  /** One API call: a POST of `payload`, or a GET (payload undefined) with `query` beside the token. */
  async function call(path: string, payload: string | undefined, query: Record<string, string>, idempotent: boolean): Promise<Record<string, unknown>> {
    if (!/^\/[A-Za-z0-9_./-]+$/.test(path)) throw new TypeError('path must be an absolute path without a query');
    const deadline = now() + deps.deadlineMs;
    const unavailable = unavailableFor(path);
    const rest = Object.entries(query)
      .map(([key, value]) => `&${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
      .join('');
    const send = (token: string) =>
      retryWhileBusy(
        (timeoutMs) => exchange(`${base}${path}?access_token=${encodeURIComponent(token)}${rest}`, payload, timeoutMs, idempotent, unavailable),
        retry(deadline),
        unavailable,
      );
    return callWithToken(path, deadline, send);
  }

  async function callWithToken(path: string, deadline: number, call: (token: string) => Promise<Answer>): Promise<Record<string, unknown>> {

      let token = await currentToken(deadline);
      let answer = await call(token);
      if (TOKEN_ERRCODES.has(answer.errcode)) {
        // Refused before WeChat looked at the request (a single-use code is still unused), so
        // it can be sent again with a fresh token.
        const refused = token;
        await drop(refused);
        token = await currentToken(deadline, refused);
        answer = await call(token);
        if (TOKEN_ERRCODES.has(answer.errcode)) {
          throw new AppError('WECHAT_ERROR', `${path} refused a freshly fetched access token (errcode ${answer.errcode})`, {
            details: {
              api: path,
              errcode: answer.errcode,
              errmsg: withoutSecrets(answer.errmsg, [deps.appSecret, refused, token]),
              action: 'WeChat refuses the token stable_token hands out: was the AppSecret reset, or is the token force-refreshed elsewhere?',
            },
          });
        }
      }
      if (answer.errcode === 0) return answer.body;
      return { ...answer.body, errcode: answer.errcode, errmsg: withoutSecrets(answer.errmsg, [deps.appSecret, token]) };
  }

  return {
    post: (path, body, options = {}) => call(path, JSON.stringify(body), {}, options.idempotent ?? false),
    get: (path, query, options = {}) => call(path, undefined, query, options.idempotent ?? true),
  };
}

// JSON, as WeChat's server APIs take it.
const httpTransport: WechatTransport = (url, init) => send(url, { ...init, headers: { 'content-type': 'application/json' } });

function unavailableFor(api: string): Unavailable {
  return (reason, details) => new AppError('WECHAT_UNAVAILABLE', `${api} failed: ${reason}`, { details: { api, reason, ...details } });
}

/** WeChat's errmsg is its own text and quotes no credential today; this keeps it that way. */
function withoutSecrets(text: string, secrets: readonly string[]): string {
  return secrets.reduce((out, secret) => (secret ? out.split(secret).join('[REDACTED]') : out), text);
}

/** The slice of the Upstash client the Redis cache uses. */
export interface AccessTokenRedis {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, options: { px: number }): Promise<unknown>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
}

export function accessTokenKey(keyPrefix: string, appId: string): string {
  return `${keyPrefix}wechat:access-token:${appId}`;
}

/**
 * Drops the shared token if it is still the one that failed (one request, atomic). KEYS[1]:
 * the token's key; ARGV[1]: the failed token's digest. Only GET and DEL: on Upstash's list.
 */
export const DROP_ACCESS_TOKEN_SCRIPT = `-- wxlogin:access-token-drop
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** Names a token without revealing it: 16 base64url characters (96 bits) of a domain-separated SHA-256. */
export function accessTokenDigest(token: string): string {
  return deriveId('wechat-access-token-digest', token).slice(0, 16);
}

/**
 * The token in Redis, one key per appid, stored as `<digest>|<expiresAt>|<sealed token>`.
 *
 * Sealed (AES-256-GCM) under a key derived from the AppSecret, so a Redis dump yields no usable
 * token; a value that does not open (the AppSecret was rotated) is a miss, and the next fetch
 * overwrites it. The digest lets a container drop "the token that failed" atomically in Redis
 * without the seal's key. expiresAt is the writer's clock: Lambda's clocks agree to well within
 * the margin, and Redis's own TTL ends the value at the same moment anyway.
 */
export function createRedisAccessTokenCache(
  redis: AccessTokenRedis,
  options: { keyPrefix: string; appId: string; appSecret: string },
): AccessTokenCache {
  const key = accessTokenKey(options.keyPrefix, options.appId);
  const purpose = `wechat-access-token/${options.appId}`;
  return {
    async get() {
      const raw = await redis.get(key);
      if (typeof raw !== 'string') return null;
      const [digest, expiresAt, sealed, extra] = raw.split('|');
      const expires = Number(expiresAt);
      if (!digest || !sealed || extra !== undefined || !Number.isSafeInteger(expires)) return null;
      let token: string;
      try {
        token = open(purpose, options.appSecret, sealed);
      } catch {
        return null;
      }
      return accessTokenDigest(token) === digest ? { token, expiresAt: expires } : null;
    },
    async set(entry, ttlMs) {
      const sealed = seal(purpose, options.appSecret, entry.token);
      await redis.set(key, `${accessTokenDigest(entry.token)}|${entry.expiresAt}|${sealed}`, { px: Math.max(1, Math.round(ttlMs)) });
    },
    async drop(token) {
      await redis.eval(DROP_ACCESS_TOKEN_SCRIPT, [key], [accessTokenDigest(token)]);
    },
  };
}

/**
 * One WechatApi per app of the deployment, each over its own access token (cached in Redis
 * under its own key, sealed under its own AppSecret), made at cold start; `wrap` turns each into
 * what the use case takes. The picker answers a session's app's (lib/apps.ts byApp).
 */
export function wechatApisByApp<T>(
  deps: {
    wechat: Pick<WechatApiDeps, 'apiBase' | 'fallbackBase' | 'timeoutMs' | 'deadlineMs'>;
    apps: Apps;
    secrets: ReadonlyMap<string, string>;
    redis: AccessTokenRedis;
    keyPrefix: string;
    logger: Pick<Logger, 'warn'>;
    onTokenFetch: () => void;
  },
  wrap: (api: WechatApi, appId: string) => T,
): (appid?: string) => T {
  const { wechat, redis, keyPrefix, logger, onTokenFetch } = deps;
  return byApp(deps.apps, deps.secrets, (appId, appSecret) =>
    wrap(createWechatApi({ ...wechat, appId, appSecret, cache: createRedisAccessTokenCache(redis, { keyPrefix, appId, appSecret }), logger, onTokenFetch }), appId),
  );
}
