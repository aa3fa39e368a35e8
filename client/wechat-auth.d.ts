/** The slice of the mini-program `wx` object the kit uses. */
export interface WxLike {
  login(options: { success(res: { code?: string }): void; fail(err: { errMsg?: string }): void }): void;
  request(options: {
    url: string;
    method?: string;
    data?: unknown;
    header?: Record<string, string>;
    timeout?: number;
    dataType?: string;
    responseType?: string;
    success(res: { statusCode: number; data: unknown; header?: Record<string, string> }): void;
    fail(err: { errMsg?: string }): void;
  }): void;
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: unknown): void;
  removeStorageSync(key: string): void;
}

export interface AuthOptions {
  /** The API's base URL, e.g. the HTTPS endpoint `serverless deploy` prints. */
  baseUrl: string;
  wx: WxLike;
  /** Where the session is kept in wx storage. Default "wechat-auth". */
  storageKey?: string;
  /** Default "/user/wechatlogin". */
  loginPath?: string;
  /** Default "/user/logout". */
  logoutPath?: string;
  /** Retries of a 409/429/503 answer before giving up. Default 3. */
  maxRetries?: number;
  /** Longest single wait in ms; a longer Retry-After is not waited for. Default 8000. */
  maxDelayMs?: number;
  /** First backoff step in ms when no Retry-After is given (then doubled, with jitter). Default 300. */
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
  /** Absolute, or relative to baseUrl. */
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
  data?: unknown;
  header?: Record<string, string>;
  timeout?: number;
  dataType?: string;
  responseType?: string;
}

export interface Response<T = unknown> {
  statusCode: number;
  data: T;
  header: Record<string, string>;
}

/** Rejections carry the HTTP status and the server's stable error code (see the README's error table). */
export interface AuthError extends Error {
  name: 'AuthError';
  statusCode: number;
  /** e.g. INVALID_CODE, RATE_LIMITED, WECHAT_UNAVAILABLE, or NETWORK_ERROR / WX_LOGIN_FAILED from the client. */
  code?: string;
  retryAfterSeconds?: number;
}

export interface Auth {
  /** Logs in now; concurrent callers share one wx.login and one login request. */
  login(): Promise<LoginResult>;
  /** Like wx.request, signed in: logs in when needed, re-logs in once on 401/403, backs off on 429/503. */
  request<T = unknown>(options: RequestOptions): Promise<Response<T>>;
  /** Revokes this session, or every session of the user with { all: true }; always clears storage. */
  logout(options?: { all?: boolean }): Promise<void>;
  /** The stored token if still valid, else null. */
  getToken(): string | null;
}

export function createAuth(options: AuthOptions): Auth;
