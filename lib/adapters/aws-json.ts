import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { send } from './http';

/**
 * One SigV4-signed request to an AWS JSON 1.1 API (SSM `GetParameters`, EventBridge
 * `PutEvents`) without the service's SDK client: a function that calls such an API once per
 * cold start, or once per rare event, should not carry a whole client in its bundle. The
 * signature comes from @smithy/signature-v4 (the SDK's own signer); the request goes out over
 * the keep-alive transport.
 */
export interface AwsJsonOptions {
  /** The signing name, e.g. 'ssm', 'events'. */
  service: string;
  /** The `X-Amz-Target`, e.g. 'AmazonSSM.GetParameters'. */
  target: string;
  region: string;
  /** Only for a local stand-in; AWS's regional endpoint otherwise. */
  endpoint?: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  timeoutMs: number;
  /** Whether the call may be sent twice (see lib/adapters/http.ts). */
  idempotent: boolean;
}

type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data) =>
  typeof data === 'string' ? Buffer.from(data, 'utf8') : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);

/** SHA-256, or HMAC-SHA256 when given a secret: the hash interface SigV4 signing expects. */
export class Sha256 {
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

/** A service's regional endpoint (China's regions are on amazonaws.com.cn). */
export function awsEndpoint(service: string, region: string): string {
  return `https://${service}.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

export async function awsJson(payload: unknown, options: AwsJsonOptions): Promise<{ status: number; body: string }> {
  const url = new URL(options.endpoint ?? awsEndpoint(options.service, options.region));
  const body = JSON.stringify(payload);
  const signer = new SignatureV4({ service: options.service, region: options.region, credentials: options.credentials, sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: '/',
    query: {},
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': options.target },
    body,
  });
  return send(`${url.origin}/`, {
    method: 'POST',
    headers: signed.headers as Record<string, string>,
    body,
    timeoutMs: options.timeoutMs,
    idempotent: options.idempotent,
  });
}
