/** The methods `wx.request` takes (WeChat's `RequestOption['method']`); it has no PATCH. */
export type WxRequestMethod = 'OPTIONS' | 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'TRACE' | 'CONNECT';

/** What `wx.request` sends as `data`: a string, an object (sent as JSON or a query), or an ArrayBuffer. */
export type WxRequestData = string | object | ArrayBuffer;

/**
 * The slice of the mini-program `wx` object the kit uses. The global `wx` of WeChat's
 * official typings (npm `miniprogram-api-typings`, `WechatMiniprogram.Wx`) is assignable to it.
 */
export interface WxLike {
  login(options: { success(res: { code?: string }): void; fail(err: { errMsg?: string }): void }): void;
  request(options: {
    url: string;
    method?: WxRequestMethod;
    data?: WxRequestData;
    header?: Record<string, string>;
    timeout?: number;
    dataType?: string;
    responseType?: 'text' | 'arraybuffer';
    success(res: { statusCode: number; data: unknown; header?: Record<string, string> }): void;
    fail(err: { errMsg?: string }): void;
  }): void;
  /** For `uploadAvatar`: multipart/form-data, the answer's body as a string. */
  uploadFile?(options: {
    url: string;
    filePath: string;
    name: string;
    header?: Record<string, string>;
    formData?: Record<string, string>;
    timeout?: number;
    success(res: { statusCode: number; data: string }): void;
    fail(err: { errMsg?: string }): void;
  }): void;
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: unknown): void;
  removeStorageSync(key: string): void;
  /**
   * Cryptographically secure random bytes (base library 2.15.0+), used for each login's
   * X-Login-Proof. Without it the kit falls back to Math.random (see `AuthOptions`).
   */
  getRandomValues?(options: { length: number; success(res: { randomValues: ArrayBuffer }): void; fail?(err: { errMsg?: string }): void }): void;
  /** The mini-program's own AppID, which each login names (see `AuthOptions.appid`). */
  getAccountInfoSync?(): { miniProgram: { appId: string } };
}

export interface AuthOptions {
  /**
   * The API's base URL, e.g. the HTTPS endpoint `serverless deploy` prints, optionally with a
   * path. `createAuth` throws unless it is `https://…`, or, for `npm run dev` (any port),
   * `http://` to this machine or a private network: `localhost`, 127.0.0.0/8, 10.0.0.0/8,
   * 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, `[::1]`, fc00::/7; and has no credentials,
   * query or fragment. A release needs the filed `https://` domain.
   * Its origin (scheme, host, port) is the only one the token is ever sent to.
   */
  baseUrl: string;
  wx: WxLike;
  /** Where the session is kept in wx storage. Default "wechat-auth". */
  storageKey?: string;
  /** Default "/user/wechatlogin". Must be on baseUrl's origin. */
  loginPath?: string;
  /** Default "/user/logout". Must be on baseUrl's origin. */
  logoutPath?: string;
  /** Default "/user/phone". Must be on baseUrl's origin. */
  phonePath?: string;
  /** Default "/user/avatar". Must be on baseUrl's origin. */
  avatarPath?: string;
  /** Default "/user/profile". Must be on baseUrl's origin. */
  profilePath?: string;
  /** Default "/user/delete". Must be on baseUrl's origin. */
  deletePath?: string;
  /** Default "/user/sessions". Must be on baseUrl's origin. */
  sessionsPath?: string;
  /** Default "/user/opendata". Must be on baseUrl's origin. */
  opendataPath?: string;
  /**
   * The AppID each login names, so that a server of several apps exchanges the code with the
   * right one (docs/identities.md). Default: this mini-program's own, from
   * `wx.getAccountInfoSync()` (none for DevTools' `touristappid`); `false` sends none (the
   * server then takes its default app).
   */
  appid?: string | false;
  /** Retries of one request before its last answer is handed back (see `Auth.request`). Default 3. */
  maxRetries?: number;
  /** Longest single wait in ms; an answer whose Retry-After is longer is handed back at once. Default 8000. */
  maxDelayMs?: number;
  /**
   * First backoff step in ms when there is no Retry-After or it is 0 (then doubled, with
   * jitter: a wait is between half and all of the step). Default 300.
   */
  baseDelayMs?: number;
  /** A token counts as expired this many ms before the server's expiry. Default 1000. */
  expirySkewMs?: number;
  /** For tests: the clock and the wait. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface LoginResult {
  token: string;
  userId: string;
  isNewUser: boolean;
  /** Seconds the session lives if unused. */
  expiresIn: number;
}

export interface RequestOptions {
  /**
   * Relative to baseUrl (`/user/me`, `user/me`), or absolute. `//host/…` takes baseUrl's
   * scheme. Only a URL on baseUrl's origin gets the token; any other goes out as given,
   * once, without Authorization, login or retries.
   */
  url: string;
  method?: WxRequestMethod;
  data?: WxRequestData;
  /** Sent as given, except that an `Authorization` header is replaced by the kit's on baseUrl's origin. */
  header?: Record<string, string>;
  timeout?: number;
  dataType?: string;
  responseType?: 'text' | 'arraybuffer';
}

export interface Response<T = unknown> {
  statusCode: number;
  data: T;
  header: Record<string, string>;
}

/** What `GET /user/me`, `uploadAvatar` and `updateProfile` answer. */
export interface Profile {
  userId: string;
  createdAt: string;
  lastLoginAt: string;
  loginCount: number;
  unionid?: string;
  phone?: PhoneNumber & { verifiedAt: string };
  nickname?: string;
  /** Show it in `<image src>`; its domain goes in the downloadFile 合法域名 list. */
  avatarUrl?: string;
}

/** A number as WeChat verified it. */
export interface PhoneNumber {
  countryCode: string;
  purePhoneNumber: string;
  /** With `+CC ` in front for numbers outside China. */
  phoneNumber: string;
}

/** Rejections carry the HTTP status and the server's stable error code (see the error table in docs/api.md). */
export interface AuthError extends Error {
  name: 'AuthError';
  statusCode: number;
  /** e.g. INVALID_CODE, INVALID_PHONE_CODE, PHONE_IN_USE, RATE_LIMITED, WECHAT_UNAVAILABLE, ACCOUNT_SUSPENDED, or NETWORK_ERROR / WX_LOGIN_FAILED / NO_PHONE_CODE / ACCOUNT_DELETED from the client. */
  code?: string;
  retryAfterSeconds?: number;
  /**
   * ACCOUNT_SUSPENDED: when the suspension ends (ISO), if it does. Until then (or until
   * `login()` is called) the kit answers ACCOUNT_SUSPENDED at once, without `wx.login`.
   */
  until?: string;
}

export interface Auth {
  /**
   * Logs in now; concurrent callers share one wx.login and one login request. Each wx.login
   * code gets a fresh random proof (32 bytes, 43 base64url characters, from
   * `wx.getRandomValues`, else Math.random), sent as `X-Login-Proof` on the login POST and
   * on every retry of it, so a retry from another network gets the same session back. On
   * `INVALID_CODE` it calls wx.login once more (a fresh code, a fresh proof), then rejects.
   */
  login(): Promise<LoginResult>;
  /**
   * Like wx.request, signed in, for baseUrl's origin: logs in when there is no valid token
   * and sends `Authorization: Bearer <token>`.
   *
   * - A 401 or 403 without our error body is the authorizer refusing the token: it is
   *   dropped, and the kit logs in again and repeats the request, once. A route's own 401/403
   *   (with our error body `{"error": {"code", "message"}}`) is handed back, token kept.
   * - Retried with backoff, for any method: 409 (but PHONE_IN_USE, which waiting does not
   *   resolve), 429 and 503 with our error body, and 500 or
   *   429 without it (API Gateway's: the route never ran, e.g. the session store was
   *   unreachable, or the stage's throttling).
   *   For GET and HEAD only: any other 5xx (a 500 with our body, 502, 504, a 503 without our
   *   body), since the route may have done its work and a POST must not be applied twice.
   *   A 500 without our body also comes from a function that crashed or timed out on AWS, so
   *   a POST route of your own that must not run twice needs an idempotency key.
   *   At most `maxRetries` retries; a `Retry-After` above 0 is honoured, and an answer asking
   *   for more than `maxDelayMs` is handed back at once; without it, or with
   *   `Retry-After: 0`, a short jittered backoff from `baseDelayMs`, never an immediate retry.
   *   The last answer is resolved as is (and the token kept) when retries run out.
   */
  request<T = unknown>(options: RequestOptions): Promise<Response<T>>;
  /** Revokes this session, or every session of the user with { all: true }; always clears storage. */
  logout(options?: { all?: boolean }): Promise<void>;
  /**
   * Binds the number the user chose with `<button open-type="getPhoneNumber">`: pass its
   * `e.detail.code` (valid 5 minutes, usable once; not the wx.login code). Resolves with the
   * number; rejects with an AuthError: `NO_PHONE_CODE` (no code: the user refused, or
   * `e.detail.errno` 1400001, the quota is used up), `INVALID_PHONE_CODE` (ask again),
   * `PHONE_IN_USE`, `RATE_LIMITED`, … Under `request`'s auth and retry rules; a retry of the
   * same code is answered without a second exchange at WeChat.
   */
  bindPhone(code: string | undefined): Promise<PhoneNumber>;
  /**
   * Sets the avatar chosen with `<button open-type="chooseAvatar">`: pass `e.detail.avatarUrl`
   * (a temporary file). Uploaded with `wx.uploadFile` (field `file`) to `POST /user/avatar`,
   * with the session token, under `request`'s rules; its string answer is parsed. Resolves with
   * the new profile; rejects with an AuthError: `AVATAR_TOO_LARGE`, `UNSUPPORTED_IMAGE`,
   * `NO_FILE` (no path), `NO_UPLOAD` (no wx.uploadFile), …
   */
  uploadAvatar(tempFilePath: string | undefined): Promise<Profile>;
  /**
   * Sets the nickname from `<input type="nickname">` (`POST /user/profile`). Resolves with the
   * new profile; rejects with `CONTENT_REJECTED` (WeChat's content check refused it),
   * `INVALID_REQUEST` (empty or over 32 characters), …
   */
  updateProfile(profile: { nickname: string }): Promise<Profile>;
  /**
   * Deletes the account for good (`POST /user/delete`), each attempt re-authenticated with a
   * fresh `wx.login` code. Ask the user to confirm first. Safe to repeat: an attempt whose
   * answer was lost (a network error, a 5xx after the route ran) is tried again, and a retry
   * the authorizer refuses means the earlier attempt deleted the account (and its sessions).
   * Resolves once the account is gone; the kit then holds no session and every signed-in call
   * rejects `ACCOUNT_DELETED` until `login()` starts a new account. Rejects with
   * `REAUTH_FAILED` (the code is another WeChat user's), `NETWORK_ERROR`,
   * `WECHAT_UNAVAILABLE` / `SERVICE_UNAVAILABLE` after its retries, …; the session is kept,
   * so calling it again resumes the deletion.
   */
  deleteAccount(): Promise<void>;
  /**
   * Reads a wx API's open data on the server (`POST /user/opendata`): `fetch` calls the API
   * (`() => wx.getWeRunData()`, `() => wx.getShareInfo({ shareTicket })`,
   * `() => wx.getGroupEnterInfo()`, …) and its `encryptedData` and `iv` are posted. Resolves
   * with the decrypted data, without its watermark. On `SESSION_KEY_EXPIRED` it logs in once
   * with a fresh `wx.login` code (so the server holds the new key), ends the old session, calls
   * `fetch` again and posts once more. Rejects with `OPENDATA_INVALID`, `OPENDATA_UNSUPPORTED`
   * (a 公众号's or an App's session), `RATE_LIMITED`, `NO_OPEN_DATA` (no encryptedData and iv), …
   */
  openData<T = Record<string, unknown>>(fetch: () => PromiseLike<OpenDataSource> | OpenDataSource): Promise<T>;
  /** The user's live sessions (`GET /user/sessions`), newest first; `current` is this device's. */
  sessions(): Promise<SessionInfo[]>;
  /**
   * Ends one of the user's sessions by its `id` from `sessions()` ("sign out that phone",
   * `DELETE /user/sessions/{id}`). Rejects with `SESSION_NOT_FOUND` when it is no live session
   * of the user's (ended already), `NO_SESSION_ID` without an id. This device's own is `logout()`.
   */
  endSession(id: string): Promise<void>;
  /** The stored token if still valid, else null. */
  getToken(): string | null;
}

/** What a wx API that hands out open data resolves with: its `encryptedData` and `iv` are posted, the rest ignored. */
export interface OpenDataSource {
  encryptedData?: string;
  iv?: string;
  [key: string]: unknown;
}

/** One live session as `GET /user/sessions` lists it (docs/api.md). */
export interface SessionInfo {
  /** Its public id: what `endSession` takes. Neither the token nor its hash. */
  id: string;
  /** This device's own session. */
  current: boolean;
  createdAt: string;
  /** As fresh as the server's authorizer cache lets it be. */
  lastUsedAt: string;
  expiresAt: string;
  maxExpiresAt: string;
  appid?: string;
  /** The login's network, masked: an IPv4 /24 or an IPv6 /48. */
  network?: string;
  /** A short summary of the login's user agent, e.g. "iOS 17.1, WeChat 8.0.47". */
  agent?: string;
}

export function createAuth(options: AuthOptions): Auth;
