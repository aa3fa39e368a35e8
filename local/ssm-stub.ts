import http from 'node:http';
import { listen, readBody, sendJson, type RunningServer } from './http-util';

/**
 * A stand-in for SSM Parameter Store's `GetParameters`, enough to run the functions' cold
 * start exactly as in production (secrets named by `*_PARAMETER`, read over a SigV4-signed
 * request). It checks the request is signed for the `ssm` service in the expected region.
 */
export interface RunningSsmStub extends RunningServer {
  stats: { calls: number };
}

const SIGV4 = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\/ssm\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/;

export async function startSsmStub(options: { parameters: Record<string, string>; region: string }): Promise<RunningSsmStub> {
  const stats = { calls: 0 };
  const server = http.createServer(async (req, res) => {
    stats.calls++;
    const body = (await readBody(req, 64 * 1024)).toString('utf8');
    const signature = SIGV4.exec(String(req.headers.authorization ?? ''));
    if (!signature || signature[1] !== options.region || !req.headers['x-amz-date']) {
      return sendJson(res, 400, { __type: 'InvalidSignatureException' }, 'application/x-amz-json-1.1');
    }
    if (req.headers['x-amz-target'] !== 'AmazonSSM.GetParameters') {
      return sendJson(res, 400, { __type: 'UnknownOperationException' }, 'application/x-amz-json-1.1');
    }
    const { Names = [], WithDecryption } = JSON.parse(body) as { Names?: string[]; WithDecryption?: boolean };
    const found = Names.filter((name) => name in options.parameters);
    return sendJson(
      res,
      200,
      {
        Parameters: found.map((Name) => ({ Name, Type: 'SecureString', Value: WithDecryption ? options.parameters[Name] : 'AQICAH…encrypted', Version: 1 })),
        InvalidParameters: Names.filter((name) => !(name in options.parameters)),
      },
      'application/x-amz-json-1.1',
    );
  });
  const running = await listen(server);
  return { ...running, stats };
}
