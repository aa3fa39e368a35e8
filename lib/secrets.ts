import { getParameters } from './adapters/ssm';
import { isAppSecureSetting, withAppParameters } from './apps';
import { ConfigError, type Env } from './config';

const SUFFIX = '_PARAMETER';

/**
 * The settings this service stores as SecureString parameters (docs/deploy.md creates them so):
 * the AppSecret, the Upstash token, the message push's Token and EncodingAESKey. Their values
 * are scrubbed from every log line, by one rule: a setting is a secret when its parameter is a
 * SecureString. For a value read from SSM, SSM's answer says so (a SecureString of your own is
 * scrubbed without being named here); for a value set directly, as locally, where SSM is never
 * asked, this list says so. The two cannot disagree: a parameter of a setting listed here that
 * SSM holds as a plain String fails the cold start. The AppID and the Upstash URL are String
 * parameters, not secrets, and stay readable in logs.
 */
export const SECURE_STRINGS: readonly string[] = ['WECHAT_SECRET', 'UPSTASH_REDIS_REST_TOKEN', 'WECHAT_PUSH_TOKEN', 'WECHAT_PUSH_AES_KEY'];

/** A setting SECURE_STRINGS names, or another app's own (`WECHAT_SECRET_<appid>`, `WECHAT_PUSH_TOKEN_<appid>`, …: lib/apps.ts). */
export function isSecureString(name: string): boolean {
  return SECURE_STRINGS.includes(name) || isAppSecureSetting(name);
}

/**
 * Settings that live in SSM Parameter Store in production: the secrets, and the AppID and
 * Upstash URL beside them, so that one request fetches all a function needs. Each is read from
 * NAME when set (locally), else from the parameter named by NAME_PARAMETER. The deploy
 * configuration gives each function the `*_PARAMETER` names it needs, and nothing here lists
 * them again.
 */
export function parameterNames(given: Env): string[] {
  const env = withAppParameters(given);
  return Object.keys(env)
    .filter((key) => key.endsWith(SUFFIX) && key.length > SUFFIX.length && env[key]?.trim())
    .map((key) => key.slice(0, -SUFFIX.length))
    .filter((name) => !env[name]?.trim());
}

/** A function's settings with its parameters resolved. */
export interface ResolvedParameters {
  /** The environment with the parameters' values filled in, for the composition roots. */
  env: Env;
  /** The values of its SecureString settings: the runtime registers them with the logger (lib/runtime.ts). */
  secrets: string[];
}

/**
 * Resolves a function's parameters once, at cold start: every NAME whose NAME_PARAMETER is set
 * and NAME is not comes from SSM Parameter Store, all in a single request; locally the plain
 * variables are set and SSM is never asked. Also says which values are secrets (SECURE_STRINGS).
 */
export async function withParameters(given: Env): Promise<ResolvedParameters> {
  // Each extra app's AppSecret parameter, named from its AppID (lib/apps.ts).
  const env = withAppParameters(given);
  const secure = new Set(Object.keys(env).filter((name) => isSecureString(name) && env[name]?.trim()));
  const wanted = parameterNames(env);
  if (wanted.length === 0) return { env, secrets: valuesOf(env, secure) };

  const region = env.AWS_REGION?.trim();
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!region || !accessKeyId || !secretAccessKey) {
    throw new ConfigError('reading secrets from SSM needs AWS_REGION and credentials in the environment');
  }
  const parameterOf = (name: string) => env[`${name}${SUFFIX}`]!.trim();
  const parameters = await getParameters(wanted.map(parameterOf), {
    region,
    endpoint: env.SSM_ENDPOINT?.trim() || undefined,
    credentials: { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) },
    timeoutMs: 3000,
  });
  const resolved: Record<string, string | undefined> = { ...env };
  for (const name of wanted) {
    const { value, type } = parameters[parameterOf(name)]!;
    if (type === 'SecureString') secure.add(name);
    // Stored unencrypted, and would be logged in clear: a deployment mistake, said at once.
    else if (isSecureString(name)) throw new ConfigError(`${parameterOf(name)} (${name}) must be a SecureString parameter, not a ${type}`);
    resolved[name] = value;
  }
  return { env: resolved, secrets: valuesOf(resolved, secure) };
}

function valuesOf(env: Env, names: ReadonlySet<string>): string[] {
  return [...names].map((name) => env[name]?.trim()).filter((value): value is string => Boolean(value));
}
