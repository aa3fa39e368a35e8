import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerResult,
  APIGatewaySimpleAuthorizerWithContextResult,
} from 'aws-lambda';
import { TOKEN_PATTERN } from '../crypto';
import { AppError, describeCause } from '../errors';
import { lambdaFunction, type Compose, type FunctionDeps } from '../runtime';
import type { Authorization } from '../sessions/service';
import { bearerToken } from '../sessions/service';
import { authorizerContext, type SessionIdentity } from './auth-context';
import { headerValue } from './body';

export type AuthorizerResult = APIGatewaySimpleAuthorizerWithContextResult<SessionIdentity> | APIGatewaySimpleAuthorizerResult;
const DENY: APIGatewaySimpleAuthorizerResult = { isAuthorized: false };

/**
 * Thrown when no session could be verified because the authorizer cannot reach what it
 * checks against. An HTTP API answers a thrown authorizer with 500 and never runs the route.
 * The message is fixed: Lambda prints a thrown error, and this one must carry no internals.
 */
export class AuthorizerUnavailableError extends Error {
  override readonly name = 'AuthorizerUnavailableError';
  constructor() {
    super('sessions cannot be verified right now');
  }
}

/**
 * An HTTP API Lambda authorizer (REQUEST, payload 2.0, simple responses) in the shared wrapper
 * (lib/runtime.ts). `authorize` checks the Authorization header; a verified identity goes to
 * the route as its context, anything else is denied (403).
 *
 * Nothing passes without a verified session, and no failure becomes a deny either: when the
 * function cannot initialise (SSM unreachable, bad config) or its store is unreachable, it
 * throws, so API Gateway answers 500, which a client retries with its token kept. A 403 would
 * tell every client that its token is dead and send them all to wx.login while their sessions
 * are still alive.
 */
export function authorizerHandler<D extends FunctionDeps>(
  compose: Compose<D>,
  authorize: (header: string | undefined, deps: D) => Promise<Authorization>,
) {
  return lambdaFunction<APIGatewayRequestAuthorizerEventV2, AuthorizerResult, D>(compose, {
    scope: (event) => {
      const token = bearerToken(headerValue(event.headers, 'authorization'));
      return {
        fields: { requestId: event.requestContext?.requestId, route: event.routeKey },
        // Scrubbed by value only when it has a token's shape (43 base64url characters): anything
        // shorter is the client's free choice, which could equal another field and erase it.
        secrets: token && TOKEN_PATTERN.test(token) ? [token] : [],
      };
    },
    run: async (event, { log, deps }) => {
      const result = await authorize(headerValue(event.headers, 'authorization'), deps);
      if (!result.allowed) {
        log.info('authorization denied', { reason: result.reason });
        return DENY;
      }
      log.debug('authorized', { userId: result.identity.userId });
      return { isAuthorized: true, context: authorizerContext(result.identity) };
    },
    initFailed: () => {
      throw new AuthorizerUnavailableError();
    },
    failed: (err, log) => {
      if (err instanceof AppError && err.code === 'SERVICE_UNAVAILABLE') {
        log.error('session store unavailable: not authorizing, API Gateway answers 500', { errorCode: err.code, cause: describeCause(err.cause) });
      } else {
        const e = err instanceof Error ? err : new Error(String(err));
        log.error('internal error', { errorCode: 'INTERNAL', errorName: e.name, errorMessage: e.message, stack: e.stack });
      }
      throw new AuthorizerUnavailableError();
    },
  });
}
