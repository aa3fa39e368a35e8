import type { APIGatewayProxyEventV2WithLambdaAuthorizer } from 'aws-lambda';
import { AppError } from '../errors';
import type { SessionIdentity } from '../sessions/ports';

export type { SessionIdentity };

/**
 * A request to a protected route: the authorizer passed the session's identity (`sessionId`,
 * `userId`, `openid`, `appid`, and `unionid` when known) as `requestContext.authorizer.lambda`.
 */
export type AuthorizedEvent = APIGatewayProxyEventV2WithLambdaAuthorizer<SessionIdentity>;

/**
 * The identity as the authorizer's context: only its own fields, and no empty unionid
 * (an HTTP API context holds strings, numbers and booleans only).
 */
export function authorizerContext(identity: SessionIdentity): SessionIdentity {
  const { sessionId, userId, openid, home, unionid, appid } = identity;
  return { sessionId, userId, openid, ...(home ? { home } : {}), ...(unionid ? { unionid } : {}), ...(appid ? { appid } : {}) };
}

/**
 * The signed-in user of a protected route. API Gateway only lets authorized requests through;
 * a route deployed without the authorizer gets UNAUTHORIZED here rather than running anonymously.
 */
export function requireUser(event: AuthorizedEvent): SessionIdentity {
  const { sessionId, userId, openid, home, unionid, appid } = event.requestContext?.authorizer?.lambda ?? ({} as Partial<SessionIdentity>);
  if (typeof sessionId !== 'string' || typeof userId !== 'string' || typeof openid !== 'string' || !sessionId || !userId || !openid) {
    throw new AppError('UNAUTHORIZED');
  }
  return authorizerContext({
    sessionId,
    userId,
    openid,
    ...(typeof home === 'string' ? { home } : {}),
    ...(typeof unionid === 'string' ? { unionid } : {}),
    ...(typeof appid === 'string' ? { appid } : {}),
  });
}

