import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerResult,
  APIGatewaySimpleAuthorizerWithContextResult,
} from 'aws-lambda';
import { describeCause } from '../lib/errors';
import { headerValue } from '../lib/http/body';
import { initFailure } from '../lib/http/handler';
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
 * HTTP API Lambda authorizer (REQUEST, payload 2.0, simple responses) for every protected
 * route: a live session passes `sessionId`, `userId`, `openid` (and `unionid`) to the route as
 * `requestContext.authorizer.lambda`; anything else is denied. Fails closed.
 */
export const handler = async (event: APIGatewayRequestAuthorizerEventV2): Promise<Result> => {
  let deps: Awaited<ReturnType<typeof ready>>;
  try {
    deps = await ready();
  } catch (err) {
    initFailure(err);
    return DENY;
  }
  const { logger, sessions } = deps;
  const header = headerValue(event.headers, 'authorization');
  const token = bearerToken(header);
  const log = logger.child({ requestId: event.requestContext?.requestId, route: event.routeKey }, token ? [token] : []);
  try {
    const result = await sessions.authorize(header);
    if (!result.allowed) {
      log.info('authorization denied', { reason: result.reason });
      return DENY;
    }
    log.debug('authorized', { userId: result.identity.userId });
    return { isAuthorized: true, context: toAuthorizerContext(result.identity) };
  } catch (err) {
    log.error('session store unavailable: denying (fail closed)', { errorCode: 'SERVICE_UNAVAILABLE', cause: describeCause(err) });
    return DENY;
  }
};
