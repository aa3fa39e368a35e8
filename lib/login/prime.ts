import type { RawResult, RecordedAnswers } from '../adapters/http';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';

/**
 * The first login of a container used to cost ~20× a later one in CPU (`npm run bench`,
 * docs/performance.md): V8 compiling our code and the SDKs' on first use, the DynamoDB client
 * resolving its configuration, middleware, endpoint and signing key, @upstash/redis building
 * its first command. So the login function rehearses one login at initialisation (which
 * Lambda runs before the first request and, on demand, with a full vCPU): the whole
 * invocation, from the API Gateway event to the answer, over the real clients, with every
 * upstream answer recorded here. Nothing is sent, written, logged or counted. An answer that
 * no longer fits an adapter makes the rehearsal fail, which the wrapper logs and the tests
 * catch (test/integration/login.test.ts).
 */
export function loginRehearsal<D>(twin: (quiet: { logger: Logger; metrics: Metrics }) => D, serviceName: string) {
  const discard = () => {};
  return {
    event: {
      version: '2.0',
      routeKey: 'POST /user/wechatlogin',
      rawPath: '/user/wechatlogin',
      rawQueryString: '',
      headers: { 'content-type': 'application/json', 'x-login-proof': 'rehearsal-proof-0000000000' },
      isBase64Encoded: false,
      body: JSON.stringify({ code: 'rehearsal-code-00000000000000000' }),
      requestContext: { requestId: 'rehearsal', http: { method: 'POST', path: '/user/wechatlogin', sourceIp: '192.0.2.1' } },
    },
    answers: recordedLogins(),
    // A new user, then the same user returning: both paths of a login, and the second run
    // finds the first one's type feedback, as a container's second login does.
    times: 2,
    // At debug, so the rehearsal formats (and compiles) every line a login writes, to nowhere;
    // with a secret to scrub, as the real logger has.
    deps: () =>
      twin({
        logger: createLogger({ level: 'debug', service: serviceName, secrets: ['rehearsal-secret-value'], sink: discard }),
        metrics: createMetrics(serviceName, discard),
      }),
  };
}

const json = (status: number, value: unknown, headers: Record<string, string> = {}): RawResult => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: Buffer.from(JSON.stringify(value)),
});

/** What each upstream answers to a user's logins, as recorded from the real services' formats. */
function recordedLogins(): RecordedAnswers {
  let logins = 0;
  return (url, { headers, body }) => {
    // The SDK's body is a Uint8Array subclass that warns when read as a string: read its bytes.
    const text = typeof body === 'string' ? body : body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8') : '';
    if (url.includes('/sns/jscode2session')) {
      return json(200, { openid: 'o-rehearsal', session_key: 'cmVoZWFyc2FsLWtleS0xMg==' });
    }
    if (headers['x-amz-target'] === 'DynamoDB_20120810.UpdateItem') {
      // The row a login leaves (the first, then the second), echoing the request's own ids (the repository checks them).
      const { ExpressionAttributeValues: v } = JSON.parse(text) as { ExpressionAttributeValues: Record<string, { S: string }> };
      logins++;
      return json(200, {
        Attributes: {
          openid: { S: 'o-rehearsal' },
          userId: v[':newUserId']!,
          createdAt: v[':now']!,
          lastLoginAt: v[':now']!,
          previousLoginAt: v[':now']!,
          lastLoginId: v[':loginId']!,
          previousLoginId: { S: '-' },
          loginCount: { N: String(logins) },
        },
      });
    }
    // Upstash: the claim and the commit scripts, by the marker each script opens with. The
    // first commit is asked whether the user is new, and says so.
    if (text.includes('-- wxlogin:claim')) return json(200, { result: ['claimed'] });
    if (text.includes('-- wxlogin:commit')) return json(200, { result: logins > 1 ? 'committed|0' : 'committed|1' });
    throw new Error(`the login rehearsal has no recorded answer for ${url}`);
  };
}
