import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '../lib/adapters/aws-json';
import { listen, readBody, sendJson, type RunningServer } from './http-util';

/**
 * A stand-in for SSM Parameter Store's `GetParameters`, enough to run the functions' cold
 * start exactly as in production (secrets named by `*_PARAMETER`, read over a SigV4-signed
 * request). It checks the signature as SSM does: recomputed with the SDK's own signer from
 * the credentials it was given, for the `ssm` service in the expected region, so a broken
 * signer fails a test.
 */
export interface RunningSsmStub extends RunningServer {
  stats: { calls: number };
}

const SIGV4 = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/;

export async function startSsmStub(options: {
  parameters: Record<string, string>;
  /** Each parameter's type, as the operator created it: SecureString unless named here. */
  types?: Record<string, 'String' | 'SecureString'>;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}): Promise<RunningSsmStub> {
  const signer = new SignatureV4({ service: 'ssm', region: options.region, credentials: options.credentials, sha256: Sha256 });
  /** Whether the request carries the signature SSM would compute for it. */
  async function signedByUs(req: http.IncomingMessage, body: string): Promise<boolean> {
    const header = String(req.headers.authorization ?? '');
    const parts = SIGV4.exec(header);
    if (!parts || parts[1] !== options.credentials.accessKeyId || parts[2] !== options.region || parts[3] !== 'ssm') return false;
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(req.headers['x-amz-date'] ?? ''));
    if (!date) return false;
    const signingDate = new Date(Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!));
    const headers = Object.fromEntries(parts[4]!.split(';').map((name) => [name, String(req.headers[name] ?? '')]));
    const host = String(req.headers.host ?? '');
    const expected = await signer.sign({ method: req.method ?? 'POST', protocol: 'http:', hostname: host.split(':')[0]!, path: req.url ?? '/', query: {}, headers, body }, { signingDate });
    return expected.headers.authorization?.replace(/, /g, ',') === header.replace(/, /g, ',');
  }

  const stats = { calls: 0 };
  const server = http.createServer(async (req, res) => {
    stats.calls++;
    const body = (await readBody(req, 64 * 1024)).toString('utf8');
    if (!(await signedByUs(req, body))) {
      return sendJson(res, 400, { __type: 'InvalidSignatureException', message: 'The request signature we calculated does not match the signature you provided.' }, 'application/x-amz-json-1.1');
    }
    if (req.headers['x-amz-target'] !== 'AmazonSSM.GetParameters') {
      return sendJson(res, 400, { __type: 'UnknownOperationException' }, 'application/x-amz-json-1.1');
    }
    const { Names = [], WithDecryption } = JSON.parse(body) as { Names?: string[]; WithDecryption?: boolean };
    // SSM's own limit on one request.
    if (Names.length < 1 || Names.length > 10) {
      return sendJson(res, 400, { __type: 'ValidationException', message: `1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10` }, 'application/x-amz-json-1.1');
    }
    const found = Names.filter((name) => name in options.parameters);
    return sendJson(
      res,
      200,
      {
        Parameters: found.map((Name) => {
          const Type = options.types?.[Name] ?? 'SecureString';
          return { Name, Type, Value: WithDecryption || Type === 'String' ? options.parameters[Name] : 'AQICAH…encrypted', Version: 1 };
        }),
        InvalidParameters: Names.filter((name) => !(name in options.parameters)),
      },
      'application/x-amz-json-1.1',
    );
  });
  const running = await listen(server);
  return { ...running, stats };
}
