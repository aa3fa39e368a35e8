import type { Rehearsal } from '../adapters/http';
import { recordedLoginWrite } from '../adapters/dynamodb-users';
import { recordedLoginScripts } from '../adapters/redis-sessions';
import { recordedExchange } from '../adapters/wechat-login';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';

/**
 * The first login of a container used to cost ~20× a later one in CPU (`npm run bench`,
 * docs/performance.md): V8 compiling our code and the SDKs' on first use, the DynamoDB client
 * resolving its configuration, middleware, endpoint and signing key, @upstash/redis building
 * its first command. So the login function rehearses one login at initialisation (which
 * Lambda runs before the first request and, on demand, with a full vCPU): the whole
 * invocation, from the API Gateway event to the answer, over the real clients, their requests
 * answered by `rehearsal` (the interceptor of the transport they were built over) from the
 * recordings each adapter keeps next to the request it answers. Nothing is sent, written,
 * logged or counted. A request with no recording, or an answer that no longer fits its
 * adapter, makes the rehearsal fail, which the wrapper logs and the tests catch
 * (test/integration/login.test.ts, test/unit/login-rehearsal.test.ts).
 */
export function loginRehearsal<D>(twin: (quiet: { logger: Logger; metrics: Metrics }) => D, serviceName: string, rehearsal: Rehearsal) {
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
    // Fresh recordings for each run: they count the logins they answer.
    run: <T>(rehearse: () => Promise<T>) => rehearsal.run([recordedExchange(), recordedLoginWrite(), recordedLoginScripts()], rehearse),
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
