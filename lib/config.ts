/**
 * Configuration: the settings reader every module reads its own settings with, and the sections
 * several functions share (WeChat, the DynamoDB connection, the users table, Redis, sessions,
 * logs). A module's own settings (a table of its own, a limit) are read in that module's file
 * with `settings(env)`, so nothing here changes for a new one: lib/phone/config.ts reads the
 * phone function's that way. The composition roots read them once per container, at cold
 * start: a missing or malformed variable fails loudly there, never mid-request.
 */
export interface Config {
  wechat: {
    appId: string;
    appSecret: string;
    apiBase: string;
    /**
     * Where a call goes when `apiBase` cannot be reached before it is sent (WECHAT_API_FALLBACK):
     * WeChat's disaster-recovery domain api2.weixin.qq.com by default for WeChat's own domains
     * (api.weixin.qq.com for api2 itself), none for any other base (a stand-in). 'none' turns it off.
     */
    fallbackBase: string | undefined;
    /** Per-call timeout for jscode2session. */
    timeoutMs: number;
    /** Overall budget for the exchange, retries included. */
    deadlineMs: number;
  };
  /** How to reach DynamoDB, whatever the table: each table's name is its reader's setting. */
  dynamodb: {
    /** Only set locally (dynalite). */
    endpoint: string | undefined;
    /** AWS_REGION, which Lambda always sets; else the SDK looks it up. */
    region?: string;
    timeoutMs: number;
  };
  usersTable: string;
  redis: {
    url: string;
    token: string;
    keyPrefix: string;
    timeoutMs: number;
  };
  session: {
    ttlSeconds: number;
    maxAgeSeconds: number;
    /** A user's live sessions at most, across every app (0: no cap): a login past it ends the least recently used. */
    maxPerUser: number;
    /** How many days the login log keeps an entry (0: no log). */
    loginLogDays: number;
  };
  loginRateLimit: {
    /** Attempts per client IP per window; 0 turns the limit off. */
    limit: number;
    windowSeconds: number;
  };
  logLevel: LogLevel;
  serviceName: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The settings a function starts from: process.env, with its parameters filled in (lib/secrets.ts). */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The typed reader of a function's settings. Every check throws a ConfigError that names the
 * variable and the rule; only a malformed number is quoted, never a value that could be a
 * secret (the error is logged).
 *
 *     const orders = settings(env);
 *     const table = orders.required('ORDERS_TABLE');
 *     const pageSize = orders.integer('ORDERS_PAGE_SIZE', 20, 1, 100);
 */
export interface Settings {
  /** The trimmed value; "NAME is required" when unset or blank. */
  required(name: string): string;
  /** The trimmed value, or `fallback` when unset or blank. */
  optional(name: string, fallback: string): string;
  /** A whole number within [min, max], or `fallback` when unset. */
  integer(name: string, fallback: number, min: number, max: number): number;
  /** An http(s) URL without its trailing slashes: required, or `fallback` when given and unset. */
  url(name: string, fallback?: string): string;
  /** An http(s) URL when set (a local stand-in's endpoint, say), else undefined. */
  optionalUrl(name: string): string | undefined;
  /** One of `choices` (compared in lower case), or `fallback` when unset. */
  oneOf<const T extends string>(name: string, choices: readonly T[], fallback: T): T;
}

export function settings(env: Env): Settings {
  const raw = (name: string) => env[name]?.trim() || undefined;
  const required = (name: string) => {
    const value = raw(name);
    if (!value) throw new ConfigError(`${name} is required`);
    return value;
  };
  const optional = (name: string, fallback: string) => raw(name) ?? fallback;
  const url = (name: string, fallback?: string) => {
    const value = fallback === undefined ? required(name) : optional(name, fallback);
    try {
      const parsed = new URL(value);
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('protocol');
    } catch {
      throw new ConfigError(`${name} must be an http(s) URL`);
    }
    return value.replace(/\/+$/, '');
  };
  return {
    required,
    optional,
    url,
    optionalUrl: (name) => (raw(name) ? url(name) : undefined),
    integer(name, fallback, min, max) {
      const value = raw(name);
      if (!value) return fallback;
      if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got "${value}"`);
      const parsed = Number(value);
      if (parsed < min || parsed > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${parsed}`);
      return parsed;
    },
    oneOf(name, choices, fallback) {
      const value = optional(name, fallback).toLowerCase();
      const choice = choices.find((c) => c === value);
      if (choice === undefined) {
        const list = choices.length === 2 ? `${choices[0]} or ${choices[1]}` : `one of ${choices.join(', ')}`;
        throw new ConfigError(`${name} must be ${list}`);
      }
      return choice;
    },
  };
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const satisfies readonly LogLevel[];
const DAY = 86_400;

/*
 * One loader per shared section, so each function reads (and needs) only its own settings:
 * the authorizer never sees the AppSecret, /user/me never sees Redis, and a function that
 * reads no users needs no USERS_TABLE.
 */

export function loadWechatConfig(env: Env = process.env): Config['wechat'] {
  const s = settings(env);
  const apiBase = s.url('WECHAT_API_BASE', 'https://api.weixin.qq.com');
  const fallbackOf = (base: string, setting: string | undefined): string | undefined => {
    if (setting === 'none') return undefined;
    if (setting) return s.url('WECHAT_API_FALLBACK');
    const host = new URL(base).hostname;
    if (!host.endsWith('.weixin.qq.com')) return undefined;
    return host === 'api2.weixin.qq.com' ? 'https://api.weixin.qq.com' : 'https://api2.weixin.qq.com';
  };
  return {
    appId: s.required('WECHAT_APPID'),
    appSecret: s.required('WECHAT_SECRET'),
    apiBase,
    fallbackBase: fallbackOf(apiBase, env.WECHAT_API_FALLBACK?.trim()),
    timeoutMs: s.integer('WECHAT_TIMEOUT_MS', 3000, 100, 20_000),
    deadlineMs: s.integer('WECHAT_DEADLINE_MS', 5000, 100, 25_000),
  };
}

/** The DynamoDB connection, for any table: no table name (each table's reader names its own). */
export function loadDynamoConfig(env: Env = process.env): Config['dynamodb'] {
  const s = settings(env);
  const region = env.AWS_REGION?.trim();
  return {
    endpoint: s.optionalUrl('DYNAMODB_ENDPOINT'),
    ...(region ? { region } : {}),
    timeoutMs: s.integer('DYNAMODB_TIMEOUT_MS', 2000, 100, 20_000),
  };
}

/** The users table (partition key `openid`), which most functions read or write. */
export function loadUsersTable(env: Env = process.env): string {
  return settings(env).required('USERS_TABLE');
}

/** The unionids table (partition key `unionid`): one claim per unionid (docs/identities.md). */
export function loadUnionidsTable(env: Env = process.env): string {
  return settings(env).required('UNIONIDS_TABLE');
}

export function loadRedisConfig(env: Env = process.env): Config['redis'] {
  const s = settings(env);
  return {
    url: s.url('UPSTASH_REDIS_REST_URL'),
    token: s.required('UPSTASH_REDIS_REST_TOKEN'),
    keyPrefix: s.optional('REDIS_KEY_PREFIX', 'wxlogin:'),
    timeoutMs: s.integer('REDIS_TIMEOUT_MS', 2000, 100, 20_000),
  };
}

export function loadSessionConfig(env: Env = process.env): Config['session'] {
  const s = settings(env);
  const ttlSeconds = s.integer('SESSION_TTL_SECONDS', 7 * DAY, 1, 365 * DAY);
  const maxAgeSeconds = s.integer('SESSION_MAX_AGE_SECONDS', 30 * DAY, 1, 365 * DAY);
  if (maxAgeSeconds < ttlSeconds) {
    throw new ConfigError('SESSION_MAX_AGE_SECONDS must not be shorter than SESSION_TTL_SECONDS');
  }
  return {
    ttlSeconds,
    maxAgeSeconds,
    // A user's live sessions at most (0: no cap), and the login log's retention (0: no log).
    maxPerUser: s.integer('MAX_SESSIONS_PER_USER', 20, 0, 1000),
    loginLogDays: s.integer('LOGIN_LOG_RETENTION_DAYS', 90, 0, 3650),
  };
}

export function loadLoginRateLimit(env: Env = process.env): Config['loginRateLimit'] {
  const s = settings(env);
  return {
    limit: s.integer('LOGIN_RATE_LIMIT', 60, 0, 1_000_000),
    windowSeconds: s.integer('LOGIN_RATE_WINDOW_SECONDS', 60, 1, DAY),
  };
}

export function loadLogConfig(env: Env = process.env): Pick<Config, 'logLevel' | 'serviceName'> {
  const s = settings(env);
  return { logLevel: s.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'), serviceName: s.optional('SERVICE_NAME', 'wechat-login') };
}

/** Everything, as the login function needs it. */
export function loadConfig(env: Env = process.env): Config {
  return {
    wechat: loadWechatConfig(env),
    dynamodb: loadDynamoConfig(env),
    usersTable: loadUsersTable(env),
    redis: loadRedisConfig(env),
    session: loadSessionConfig(env),
    loginRateLimit: loadLoginRateLimit(env),
    ...loadLogConfig(env),
  };
}
