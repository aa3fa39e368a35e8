import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerResult,
  APIGatewaySimpleAuthorizerWithContextResult,
} from 'aws-lambda';
import { AppError, describeCause } from '../lib/errors';
import { TOKEN_PATTERN } from '../lib/crypto';
import { headerValue } from '../lib/http/body';
import { logInitFailure } from '../lib/http/handler';
import { toAuthorizerContext, type AuthorizerContext } from '../lib/http/auth-context';
import { bearerToken } from '../lib/sessions/service';
import { composeSessions } from '../lib/sessions/compose';
import { initOnce } from '../lib/runtime';
import { withParameters } from '../lib/secrets';

// Cold start: the Upstash token is read (SSM in production), config is validated and the
// Redis client is created, once per container.
const ready = initOnce(async () => composeSessions(await withParameters(process.env, ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'])));

type Result = APIGatewaySimpleAuthorizerWithContextResult<AuthorizerContext> | APIGatewaySimpleAuthorizerResult;
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
 * HTTP API Lambda authorizer (REQUEST, payload 2.0, simple responses) for every protected
 * route: a live session passes `sessionId`, `userId`, `openid` (and `unionid`) to the route as
 * `requestContext.authorizer.lambda`; a missing, malformed, unknown, expired or revoked token
 * is denied (403).
 *
 * Nothing passes without a verified session. When none can be verified because Redis is
 * unreachable, or the function cannot initialise (SSM unreachable, bad config), it throws
 * instead of denying: API Gateway answers 500, which a client retries with its token kept,
 * whereas a 403 tells every client that its token is dead and sends them all to wx.login while
 * their sessions are still alive.
 */
export const handler = async (event: APIGatewayRequestAuthorizerEventV2): Promise<Result> => {
  let deps: Awaited<ReturnType<typeof ready>>;
  try {
    deps = await ready();
  } catch (err) {
    logInitFailure(err);
    throw new AuthorizerUnavailableError();
  }
  const { logger, sessions } = deps;
  const header = headerValue(event.headers, 'authorization');
  const token = bearerToken(header);
  // Scrubbed by value only when it has a token's shape (43 base64url characters): anything
  // shorter is the client's free choice, which could equal another field and erase it.
  const log = logger.child({ requestId: event.requestContext?.requestId, route: event.routeKey }, token && TOKEN_PATTERN.test(token) ? [token] : []);
  let result: Awaited<ReturnType<typeof sessions.authorize>>;
  try {
    result = await sessions.authorize(header);
  } catch (err) {
    if (err instanceof AppError && err.code === 'SERVICE_UNAVAILABLE') {
      log.error('session store unavailable: not authorizing, API Gateway answers 500', {
        errorCode: err.code,
        cause: describeCause(err.cause),
      });
    } else {
      const e = err instanceof Error ? err : new Error(String(err));
      log.error('internal error', { errorCode: 'INTERNAL', errorName: e.name, errorMessage: e.message, stack: e.stack });
    }
    throw new AuthorizerUnavailableError();
  }
  if (!result.allowed) {
    log.info('authorization denied', { reason: result.reason });
    return DENY;
  }
  log.debug('authorized', { userId: result.identity.userId });
  return { isAuthorized: true, context: toAuthorizerContext(result.identity) };
};
