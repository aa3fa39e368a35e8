import { getParameters } from './clients/ssm';
import { ConfigError } from './config';

/**
 * Settings that live in SSM Parameter Store in production: the secrets (the AppSecret, the
 * Upstash token, the message push's Token and EncodingAESKey), and the AppID and Upstash URL
 * beside them (one request fetches all a function needs). Each is read from NAME when set
 * (locally), else from the parameter named by NAME_PARAMETER.
 */
export type ParameterName =
  | 'WECHAT_APPID'
  | 'WECHAT_SECRET'
  | 'UPSTASH_REDIS_REST_URL'
  | 'UPSTASH_REDIS_REST_TOKEN'
  | 'WECHAT_PUSH_TOKEN'
  | 'WECHAT_PUSH_AES_KEY';

type Env = Record<string, string | undefined>;

/**
 * Resolves a function's parameters once, at cold start, and returns the environment with their
 * values filled in (for `loadConfig`). In production only `*_PARAMETER` names are configured
 * and every missing value comes from SSM Parameter Store in a single request; locally the
 * plain variables are set and SSM is never asked.
 */
export async function withParameters(env: Env, names: readonly ParameterName[]): Promise<Env> {
  const wanted = names.filter((name) => !env[name]?.trim() && env[`${name}_PARAMETER`]?.trim());
  if (wanted.length === 0) return env;

  const region = env.AWS_REGION?.trim();
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!region || !accessKeyId || !secretAccessKey) {
    throw new ConfigError('reading secrets from SSM needs AWS_REGION and credentials in the environment');
  }
  const parameterOf = (name: ParameterName) => env[`${name}_PARAMETER`]!.trim();
  const values = await getParameters(wanted.map(parameterOf), {
    region,
    endpoint: env.SSM_ENDPOINT?.trim() || undefined,
    credentials: { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) },
    timeoutMs: 3000,
  });
  const resolved: Env = { ...env };
  for (const name of wanted) resolved[name] = values[parameterOf(name)];
  return resolved;
}
