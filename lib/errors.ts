/**
 * Every failure the API can answer with. One code, one HTTP status, one place.
 * Handlers throw AppError; `lib/http/respond.ts` turns it into the response.
 */
export const ERRORS = {
  INVALID_REQUEST: { status: 400, message: 'The request is malformed.' },
  UNAUTHORIZED: { status: 401, message: 'A valid session token is required.' },
  INVALID_CODE: { status: 401, message: 'The login code is invalid or has already been used. Get a new one (wx.login(), or WeChat’s OAuth) and try again.' },
  UNKNOWN_APP: { status: 400, message: 'This service does not serve that app (appid).' },
  // 400, not 401/403: the client kit reads those as "session gone".
  INVALID_PHONE_CODE: { status: 400, message: 'The phone code is invalid, expired, already used, or not this user’s. Ask the user again.' },
  REAUTH_FAILED: { status: 403, message: 'The login code is not this account’s. Sign in again with this WeChat account to delete it.' },
  USER_BLOCKED: { status: 403, message: 'WeChat blocked this login for a high-risk account.' },
  SNAPSHOT_USER: { status: 403, message: 'A snapshot page’s visitor (快照页) cannot sign in: ask the user to tap 使用完整服务, then log in again.' },
  ACCOUNT_SUSPENDED: { status: 403, message: 'This account is suspended.' },
  IAM_REQUIRED: { status: 403, message: 'The admin API takes requests signed with AWS SigV4 (AWS_IAM); a session token gets nothing here.' },
  MINIPROGRAM_SESSION_REQUIRED: { status: 403, message: 'This needs a session opened in a mini-program: WeChat’s API for it takes a mini-program user.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  OPENDATA_MALFORMED: { status: 400, message: 'The open data is not as a wx API gives it: base64 encryptedData of whole 16-byte blocks (at most 16 KiB) and a 16-byte base64 iv.' },
  OPENDATA_INVALID: { status: 400, message: 'The open data cannot be read with this session’s key, or is not this mini-program’s, or is too old. Call the wx API again.' },
  OPENDATA_UNSUPPORTED: { status: 400, message: 'Open data needs a session opened in a mini-program (wx.login): a 公众号’s or an App’s session has no session_key.' },
  // 401 with our code, so the kit does not read it as "session gone": it logs in again for a fresh key.
  SESSION_KEY_EXPIRED: { status: 401, message: 'WeChat has replaced this session’s key (a later wx.login, or data pre-fetch). Log in again with a fresh wx.login code, then fetch the data again.' },
  SESSION_NOT_FOUND: { status: 404, message: 'No live session of yours has that id: it has ended already, or it is not yours.' },
  CONTENT_REJECTED: { status: 400, message: 'WeChat’s content check rejected the nickname. Choose another.' },
  AVATAR_TOO_LARGE: { status: 413, message: 'The avatar file is too large.' },
  UNSUPPORTED_IMAGE: { status: 415, message: 'The avatar must be a JPEG, PNG or WebP image.' },
  PHONE_IN_USE: { status: 409, message: 'This phone number is bound to another account.' },
  LOGIN_IN_PROGRESS: { status: 409, message: 'A login with this code is already in progress. Retry shortly.', retryAfterSeconds: 1 },
  RATE_LIMITED: { status: 429, message: 'Too many requests. Retry later.' },
  // WeChat's message push (POST/GET /wechat/events): the signature is wrong, or its timestamp too old or
  // new; a 明文模式 push gets its own message (lib/push/service.ts, PLAINTEXT_REFUSED).
  INVALID_SIGNATURE: { status: 403, message: 'The request is not signed by WeChat, or its signature has expired.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  WECHAT_ERROR: { status: 502, message: 'WeChat rejected the request. The service is misconfigured.' },
  WECHAT_UNAVAILABLE: { status: 503, message: 'WeChat is unavailable. Retry later.', retryAfterSeconds: 1 },
  SERVICE_UNAVAILABLE: { status: 503, message: 'The service is temporarily unavailable. Retry later.', retryAfterSeconds: 1 },
} as const satisfies Record<string, { status: number; message: string; retryAfterSeconds?: number }>;

export type ErrorCode = keyof typeof ERRORS;

export interface AppErrorOptions {
  /** What went wrong underneath. Logged by name only: foreign messages may carry secrets. */
  cause?: unknown;
  /** Seconds for a Retry-After header. */
  retryAfterSeconds?: number;
  /** Safe, non-secret facts for the log line (never sent to the client). */
  details?: Record<string, unknown>;
  /** Facts the client is told beside the code and message (a suspension's end time), in the error body. */
  answer?: Record<string, string | number>;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly answer: Record<string, string | number> | undefined;

  /**
   * @param message shown to the client for 4xx answers; for 5xx the client always gets
   *   the generic message of the code, and this one is only logged.
   */
  constructor(code: ErrorCode, message?: string, options: AppErrorOptions = {}) {
    super(message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERRORS[code].status;
    // Every 409 and 503 says when to come back; a caller may know better (a rate limit's window).
    const entry = ERRORS[code];
    this.retryAfterSeconds = options.retryAfterSeconds ?? ('retryAfterSeconds' in entry ? entry.retryAfterSeconds : undefined);
    this.details = options.details;
    this.answer = options.answer;
  }

  /** The message a client may see: never internals for a 5xx. */
  get publicMessage(): string {
    return this.status >= 500 ? ERRORS[this.code].message : this.message;
  }
}


/**
 * A dependency refused the credentials this function holds: WeChat's 40125 (the AppSecret) on
 * jscode2session or stable_token, Upstash's 401 (the token). Carried as the `cause` of the
 * AppError the adapter throws; the function wrapper (lib/runtime.ts) then re-reads its
 * parameters, in case they were rotated, and tries the request once more.
 */
export class CredentialsRejected extends Error {
  override readonly name = 'CredentialsRejected';
  /** @param by what refused them, e.g. "jscode2session", "stable_token", "upstash" */
  constructor(readonly by: string) {
    super(`${by} refused our credentials`);
  }
}

/** Whether `err`, or an error it was caused by, is a CredentialsRejected. */
export function credentialsRejected(err: unknown): CredentialsRejected | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof CredentialsRejected) return e;
  }
  return undefined;
}

/*
 * The AWS SDK's own classification of a failed request (@smithy/core/retry: isThrottlingError,
 * isTransientError, isServerError), read from the error as the SDK marks it, without the SDK:
 * every function bundles this file. test/unit/errors.test.ts checks it against the SDK's.
 */
const THROTTLING_NAMES = new Set([
  'BandwidthLimitExceeded', 'EC2ThrottledException', 'LimitExceededException', 'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'RequestThrottled', 'RequestThrottledException',
  'SlowDown', 'ThrottledException', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'TransactionInProgressException',
]);
/** Timeouts, and an abort (our own deadline, or the caller's): the dependency did not answer in time. */
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'AbortError']);
/** A connection reset, refused or unreachable. */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

interface SdkMarks {
  code?: unknown;
  $retryable?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Whether `err` (or an error it was caused by) is a dependency failing for a moment rather
 * than a bug: throttling, a timeout or abort, a connection reset or refused, a 5xx. An SDK's
 * 4xx client error (ValidationException, ResourceNotFoundException, AccessDenied…) is not.
 */
export function transientFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof AppError) return e.code === 'SERVICE_UNAVAILABLE' || e.code === 'WECHAT_UNAVAILABLE';
    const { code, $retryable, $fault, $metadata } = e as SdkMarks;
    const status = $metadata?.httpStatusCode ?? 0;
    if (THROTTLING_NAMES.has(e.name) || TIMEOUT_NAMES.has(e.name) || $retryable !== undefined || $fault === 'server') return true;
    if (status === 429 || status >= 500 || (typeof code === 'string' && NETWORK_CODES.has(code))) return true;
  }
  return false;
}

/**
 * The AppError a failure is answered with (lib/http/respond.ts): itself, SERVICE_UNAVAILABLE
 * (with Retry-After) for a dependency's passing failure that reached us unwrapped (an SDK
 * client a route calls itself), or INTERNAL for anything else, a bug.
 */
export function asAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (transientFailure(err)) return new AppError('SERVICE_UNAVAILABLE', 'a dependency failed for a moment', { cause: err });
  return new AppError('INTERNAL', undefined, { cause: err });
}

/**
 * Whether `err` is a request a service refused as malformed or not allowed (an SDK's 4xx client
 * fault other than throttling: ValidationException, ResourceNotFoundException, AccessDenied…):
 * our bug or a deployment mistake, which no retry mends.
 */
export function clientFault(err: unknown): boolean {
  return err instanceof Error && (err as SdkMarks).$fault === 'client' && !transientFailure(err);
}

/** A short, secret-free description of a foreign error: its name and system code only. */
export function describeCause(err: unknown): string | undefined {
  if (err === undefined || err === null) return undefined;
  if (!(err instanceof Error)) return typeof err;
  const sys = (err as { code?: unknown }).code;
  const inner = err.cause instanceof Error ? describeCause(err.cause) : undefined;
  return [err.name, typeof sys === 'string' ? sys : undefined, inner && `(${inner})`].filter(Boolean).join(' ');
}
