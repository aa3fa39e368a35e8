import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { ConfigError } from '../config';
import { send } from './http';

/**
 * SSM Parameter Store `GetParameters` (with decryption) in one signed request, without the
 * SDK's SSM client: the functions read their secrets once per container at cold start, and
 * the authorizer must stay small. SigV4 comes from @smithy/signature-v4 (the SDK's own
 * signer), the request goes out over the keep-alive transport.
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

type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data) =>
  typeof data === 'string' ? Buffer.from(data, 'utf8') : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);

/** SHA-256, or HMAC-SHA256 when given a secret: the hash interface SigV4 signing expects. */
class Sha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: Data) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
  update(data: Data): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

export function ssmEndpoint(region: string): string {
  return `https://ssm.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

/** Returns name → decrypted value for every name; fails if any parameter does not exist. */
export async function getParameters(names: readonly string[], options: SsmOptions): Promise<Record<string, string>> {
  const url = new URL(options.endpoint ?? ssmEndpoint(options.region));
  const body = JSON.stringify({ Names: names, WithDecryption: true });
  const signer = new SignatureV4({ service: 'ssm', region: options.region, credentials: options.credentials, sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: '/',
    query: {},
    headers: {
      host: url.host,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonSSM.GetParameters',
    },
    body,
  });

  const { status, body: answer } = await send(`${url.origin}/`, {
    method: 'POST',
    headers: signed.headers as Record<string, string>,
    body,
    timeoutMs: options.timeoutMs,
    idempotent: true, // a read
  });
  let parsed: { Parameters?: { Name: string; Value: string }[]; InvalidParameters?: string[]; __type?: string };
  try {
    parsed = JSON.parse(answer);
  } catch {
    throw new SsmError(`GetParameters answered HTTP ${status} with no JSON`);
  }
  if (status !== 200) throw new SsmError(`GetParameters failed: HTTP ${status} ${parsed.__type ?? ''}`.trim());
  // A parameter that does not exist is a deployment mistake, not an outage.
  if (parsed.InvalidParameters?.length) throw new ConfigError(`no such SSM parameter: ${parsed.InvalidParameters.join(', ')}`);
  const values: Record<string, string> = {};
  for (const parameter of parsed.Parameters ?? []) values[parameter.Name] = parameter.Value;
  for (const name of names) if (values[name] === undefined) throw new SsmError(`SSM returned no value for ${name}`);
  return values;
}
