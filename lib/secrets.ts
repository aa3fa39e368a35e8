import { getParameters } from './adapters/ssm';
import { ConfigError, type Env } from './config';

const SUFFIX = '_PARAMETER';

/**
 * Settings that live in SSM Parameter Store in production: the secrets (the AppSecret, the
 * Upstash token, the message push's Token and EncodingAESKey), and the AppID and Upstash URL
 * beside them, so that one request fetches all a function needs. Each is read from NAME when
 * set (locally), else from the parameter named by NAME_PARAMETER. serverless.yml gives each
 * function the `*_PARAMETER` names it needs, and nothing here lists them again.
 */
export function parameterNames(env: Env): string[] {
  return Object.keys(env)
    .filter((key) => key.endsWith(SUFFIX) && key.length > SUFFIX.length && env[key]?.trim())
    .map((key) => key.slice(0, -SUFFIX.length))
    .filter((name) => !env[name]?.trim());
}

/**
 * Resolves a function's parameters once, at cold start, and returns the environment with their
 * values filled in (for the composition roots). Every NAME whose NAME_PARAMETER is set and
 * NAME is not comes from SSM Parameter Store, all in a single request; locally the plain
 * variables are set and SSM is never asked.
 */
export async function withParameters(env: Env): Promise<Env> {
  const wanted = parameterNames(env);
  if (wanted.length === 0) return env;

  const region = env.AWS_REGION?.trim();
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!region || !accessKeyId || !secretAccessKey) {
    throw new ConfigError('reading secrets from SSM needs AWS_REGION and credentials in the environment');
  }
  const parameterOf = (name: string) => env[`${name}${SUFFIX}`]!.trim();
  const values = await getParameters(wanted.map(parameterOf), {
    region,
    endpoint: env.SSM_ENDPOINT?.trim() || undefined,
    credentials: { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) },
    timeoutMs: 3000,
  });
  const resolved: Record<string, string | undefined> = { ...env };
  for (const name of wanted) resolved[name] = values[parameterOf(name)];
  return resolved;
}
