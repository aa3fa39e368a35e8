import { ENCODING_AES_KEY_PATTERN, PUSH_TOKEN_PATTERN } from './push/wechat-message';

/**
 * The one place configuration is read. Parsed and validated once per container, at cold
 * start: a missing or malformed variable fails loudly there, never mid-request.
 */
export interface Config {
  wechat: {
    appId: string;
    appSecret: string;
    apiBase: string;
    /** Per-call timeout for jscode2session. */
    timeoutMs: number;
    /** Overall budget for the exchange, retries included. */
    deadlineMs: number;
  };
  dynamodb: {
    usersTable: string;
    /** Only set locally (dynalite). */
    endpoint: string | undefined;
    /** AWS_REGION, which Lambda always sets; else the SDK looks it up. */
    region?: string;
    timeoutMs: number;
  };
  redis: {
    url: string;
    token: string;
    keyPrefix: string;
    timeoutMs: number;
  };
  session: {
    ttlSeconds: number;
    maxAgeSeconds: number;
  };
  loginRateLimit: {
    /** Attempts per client IP per window; 0 turns the limit off. */
    limit: number;
    windowSeconds: number;
  };
  logLevel: LogLevel;
  serviceName: string;
}

/** The phone function's own settings. */
export interface PhoneConfig {
  /** The claims table: one item per bound number, keyed by E.164. */
  phonesTable: string;
  /** A number bound to someone else: refuse (PHONE_IN_USE), or move it to the newest verified holder. */
  conflict: 'reject' | 'move';
  /** Binding attempts per user per window (sliding); 0 turns the limit off. */
  limit: { limit: number; windowSeconds: number };
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The settings a function starts from: process.env, with its parameters filled in (lib/secrets.ts). */
export type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`${name} is required`);
  return value;
}

function optional(env: Env, name: string, fallback: string): string {
  const value = env[name]?.trim();
  return value ? value : fallback;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function url(env: Env, name: string, fallback?: string): string {
  const value = fallback === undefined ? required(env, name) : optional(env, name, fallback);
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('protocol');
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL`);
  }
  return value.replace(/\/+$/, '');
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const DAY = 86_400;

/*
 * One loader per section, so each function reads (and needs) only its own settings: the
 * authorizer never sees the AppSecret, /user/me never sees Redis.
 */

export function loadWechatConfig(env: Env = process.env): Config['wechat'] {
  return {
    appId: required(env, 'WECHAT_APPID'),
    appSecret: required(env, 'WECHAT_SECRET'),
    apiBase: url(env, 'WECHAT_API_BASE', 'https://api.weixin.qq.com'),
    timeoutMs: integer(env, 'WECHAT_TIMEOUT_MS', 3000, 100, 20_000),
    deadlineMs: integer(env, 'WECHAT_DEADLINE_MS', 5000, 100, 25_000),
  };
}

export function loadDynamoConfig(env: Env = process.env): Config['dynamodb'] {
  const endpoint = env.DYNAMODB_ENDPOINT?.trim();
  return {
    usersTable: required(env, 'USERS_TABLE'),
    endpoint: endpoint ? url(env, 'DYNAMODB_ENDPOINT') : undefined,
    ...(env.AWS_REGION?.trim() ? { region: env.AWS_REGION.trim() } : {}),
    timeoutMs: integer(env, 'DYNAMODB_TIMEOUT_MS', 2000, 100, 20_000),
  };
}

export function loadRedisConfig(env: Env = process.env): Config['redis'] {
  return {
    url: url(env, 'UPSTASH_REDIS_REST_URL'),
    token: required(env, 'UPSTASH_REDIS_REST_TOKEN'),
    keyPrefix: optional(env, 'REDIS_KEY_PREFIX', 'wxlogin:'),
    timeoutMs: integer(env, 'REDIS_TIMEOUT_MS', 2000, 100, 20_000),
  };
}

export function loadSessionConfig(env: Env = process.env): Config['session'] {
  const ttlSeconds = integer(env, 'SESSION_TTL_SECONDS', 7 * DAY, 1, 365 * DAY);
  const maxAgeSeconds = integer(env, 'SESSION_MAX_AGE_SECONDS', 30 * DAY, 1, 365 * DAY);
  if (maxAgeSeconds < ttlSeconds) {
    throw new ConfigError('SESSION_MAX_AGE_SECONDS must not be shorter than SESSION_TTL_SECONDS');
  }
  return { ttlSeconds, maxAgeSeconds };
}

export function loadLoginRateLimit(env: Env = process.env): Config['loginRateLimit'] {
  return {
    limit: integer(env, 'LOGIN_RATE_LIMIT', 60, 0, 1_000_000),
    windowSeconds: integer(env, 'LOGIN_RATE_WINDOW_SECONDS', 60, 1, DAY),
  };
}

export function loadPhoneConfig(env: Env = process.env): PhoneConfig {
  const conflict = optional(env, 'PHONE_CONFLICT', 'reject').toLowerCase();
  if (conflict !== 'reject' && conflict !== 'move') throw new ConfigError('PHONE_CONFLICT must be reject or move');
  return {
    phonesTable: required(env, 'PHONES_TABLE'),
    conflict,
    limit: {
      limit: integer(env, 'PHONE_BIND_LIMIT', 10, 0, 10_000),
      windowSeconds: integer(env, 'PHONE_BIND_WINDOW_SECONDS', 3600, 1, DAY),
    },
  };
}

/**
 * WeChat's message push (消息推送, POST/GET /wechat/events): the Token and EncodingAESKey set in
 * the console (开发管理 → 开发设置 → 消息推送), and the AppID a decrypted message must end with.
 */
export interface PushConfig {
  token: string;
  encodingAesKey: string;
  appId: string;
  /** WECHAT_PUSH_PLAINTEXT=accept: take 明文模式 pushes too (refused by default: their signature does not cover the body). */
  acceptPlaintext: boolean;
}

export function loadPushConfig(env: Env = process.env): PushConfig {
  const token = required(env, 'WECHAT_PUSH_TOKEN');
  // The messages name the rule, never the value: both are secrets, and a ConfigError is logged.
  if (!PUSH_TOKEN_PATTERN.test(token)) throw new ConfigError('WECHAT_PUSH_TOKEN must be 3–32 letters or digits, as the WeChat console takes it');
  const encodingAesKey = required(env, 'WECHAT_PUSH_AES_KEY');
  if (!ENCODING_AES_KEY_PATTERN.test(encodingAesKey)) throw new ConfigError('WECHAT_PUSH_AES_KEY must be the console’s EncodingAESKey: 43 base64 characters');
  const plaintext = optional(env, 'WECHAT_PUSH_PLAINTEXT', 'refuse').toLowerCase();
  if (plaintext !== 'refuse' && plaintext !== 'accept') throw new ConfigError('WECHAT_PUSH_PLAINTEXT must be refuse or accept');
  return { token, encodingAesKey, appId: required(env, 'WECHAT_APPID'), acceptPlaintext: plaintext === 'accept' };
}

/** Where avatars are stored and served from (the avatar function; /user/me only needs the URL). */
export interface AvatarConfig {
  bucket: string;
  /** The CDN's URL for the bucket (the operator's filed domain in production; the stand-in locally). */
  publicBaseUrl: string;
  /** Only set locally (the S3 stand-in). */
  endpoint: string | undefined;
  maxBytes: number;
  timeoutMs: number;
  /** Uploads per user per fixed window (AVATAR_UPLOAD_LIMIT, AVATAR_UPLOAD_WINDOW_SECONDS); 0 turns it off. */
  limit: { limit: number; windowSeconds: number };
}

export function loadAvatarConfig(env: Env = process.env): AvatarConfig {
  const endpoint = env.S3_ENDPOINT?.trim();
  return {
    bucket: required(env, 'AVATAR_BUCKET'),
    publicBaseUrl: url(env, 'AVATAR_BASE_URL'),
    endpoint: endpoint ? url(env, 'S3_ENDPOINT') : undefined,
    // Base64 in Lambda's 6 MB event, with the multipart around it: 4 MiB at most.
    maxBytes: integer(env, 'AVATAR_MAX_BYTES', 1024 * 1024, 1024, 4 * 1024 * 1024),
    // Two attempts of this for each of four S3 requests, with the row write, inside the avatar
    // function's 28 s (serverless.yml).
    timeoutMs: integer(env, 'S3_TIMEOUT_MS', 2000, 100, 2500),
    limit: {
      limit: integer(env, 'AVATAR_UPLOAD_LIMIT', 20, 0, 10_000),
      windowSeconds: integer(env, 'AVATAR_UPLOAD_WINDOW_SECONDS', 3600, 60, DAY),
    },
  };
}

/** How a stored avatar key becomes a URL, for functions that only show avatars; undefined when not configured. */
export function loadAvatarUrl(env: Env = process.env): ((key: string) => string) | undefined {
  const base = env.AVATAR_BASE_URL?.trim();
  if (!base) return undefined;
  const publicBaseUrl = url(env, 'AVATAR_BASE_URL');
  return (key) => `${publicBaseUrl}/${key}`;
}

/** Where `UserDeleted` goes: EventBridge's default bus, or only the log (locally, or turned off). */
export interface UserEventsConfig {
  publish: boolean;
  /** The event's `source`: the service and stage. */
  source: string;
  region: string | undefined;
  endpoint: string | undefined;
}

export function loadUserEventsConfig(env: Env = process.env): UserEventsConfig {
  const setting = optional(env, 'USER_EVENTS', 'log').toLowerCase();
  if (setting !== 'eventbridge' && setting !== 'log') throw new ConfigError('USER_EVENTS must be eventbridge or log');
  const endpoint = env.EVENTBRIDGE_ENDPOINT?.trim();
  return {
    publish: setting === 'eventbridge',
    source: optional(env, 'SERVICE_NAME', 'wechat-login'),
    region: env.AWS_REGION?.trim() || undefined,
    endpoint: endpoint ? url(env, 'EVENTBRIDGE_ENDPOINT') : undefined,
  };
}

export function loadLogConfig(env: Env = process.env): Pick<Config, 'logLevel' | 'serviceName'> {
  const logLevel = optional(env, 'LOG_LEVEL', 'info').toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  return { logLevel, serviceName: optional(env, 'SERVICE_NAME', 'wechat-login') };
}

/** Everything, as the login function needs it. */
export function loadConfig(env: Env = process.env): Config {
  return {
    wechat: loadWechatConfig(env),
    dynamodb: loadDynamoConfig(env),
    redis: loadRedisConfig(env),
    session: loadSessionConfig(env),
    loginRateLimit: loadLoginRateLimit(env),
    ...loadLogConfig(env),
  };
}
