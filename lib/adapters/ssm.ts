import { ConfigError } from '../config';
import { awsEndpoint, awsJson } from './aws-json';

/**
 * SSM Parameter Store `GetParameters` (with decryption) in one signed request, without the
 * SDK's SSM client (lib/adapters/aws-json.ts): the functions read their secrets once per
 * container at cold start, and the authorizer must stay small.
 */
export interface SsmOptions {
  region: string;
  /** Only for a local stand-in; AWS's regional endpoint otherwise. */
  endpoint?: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  timeoutMs: number;
}

export class SsmError extends Error {
  override readonly name = 'SsmError';
}

export function ssmEndpoint(region: string): string {
  return awsEndpoint('ssm', region);
}

/** A parameter's value, and whether it is a secret: SSM's type, String or SecureString (stored encrypted). */
export interface SsmParameter {
  value: string;
  type: 'String' | 'StringList' | 'SecureString';
}

/** GetParameters takes at most this many names per request. */
export const MAX_NAMES_PER_REQUEST = 10;

/**
 * Returns name → decrypted value and type for every name; fails if any parameter does not
 * exist. One request per ten names (SSM's limit: a deployment of many apps has more), sent together.
 */
export async function getParameters(names: readonly string[], options: SsmOptions): Promise<Record<string, SsmParameter>> {
  const batches: (readonly string[])[] = [];
  for (let i = 0; i < names.length; i += MAX_NAMES_PER_REQUEST) batches.push(names.slice(i, i + MAX_NAMES_PER_REQUEST));
  return Object.assign({}, ...(await Promise.all(batches.map((batch) => getBatch(batch, options)))));
}

async function getBatch(names: readonly string[], options: SsmOptions): Promise<Record<string, SsmParameter>> {
  const { status, body: answer } = await awsJson(
    { Names: names, WithDecryption: true },
    { ...options, service: 'ssm', target: 'AmazonSSM.GetParameters', idempotent: true /* a read */ },
  );
  let parsed: { Parameters?: { Name: string; Value: string; Type: SsmParameter['type'] }[]; InvalidParameters?: string[]; __type?: string };
  try {
    parsed = JSON.parse(answer);
  } catch {
    throw new SsmError(`GetParameters answered HTTP ${status} with no JSON`);
  }
  if (status !== 200) throw new SsmError(`GetParameters failed: HTTP ${status} ${parsed.__type ?? ''}`.trim());
  // A parameter that does not exist is a deployment mistake, not an outage.
  if (parsed.InvalidParameters?.length) throw new ConfigError(`no such SSM parameter: ${parsed.InvalidParameters.join(', ')}`);
  const parameters: Record<string, SsmParameter> = {};
  for (const { Name, Value, Type } of parsed.Parameters ?? []) parameters[Name] = { value: Value, type: Type };
  for (const name of names) if (parameters[name] === undefined) throw new SsmError(`SSM returned no value for ${name}`);
  return parameters;
}
