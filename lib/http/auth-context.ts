import type { APIGatewayProxyEventV2WithLambdaAuthorizer } from 'aws-lambda';
import { AppError } from '../errors';
import type { SessionIdentity } from '../sessions/store';

/** What the authorizer passes to every protected route (`requestContext.authorizer.lambda`). */
export type AuthorizerContext = {
  sessionId: string;
  userId: string;
  openid: string;
  unionid?: string;
};

export type AuthorizedEvent = APIGatewayProxyEventV2WithLambdaAuthorizer<AuthorizerContext>;

export function toAuthorizerContext(identity: SessionIdentity): AuthorizerContext {
  const { sessionId, userId, openid, unionid } = identity;
  return unionid ? { sessionId, userId, openid, unionid } : { sessionId, userId, openid };
}

/**
 * The signed-in user of a protected route. API Gateway only lets authorized requests through;
 * a route deployed without the authorizer gets UNAUTHORIZED here rather than running anonymously.
 */
export function requireUser(event: AuthorizedEvent): AuthorizerContext {
  const context = event.requestContext?.authorizer?.lambda;
  const { sessionId, userId, openid, unionid } = context ?? ({} as Partial<AuthorizerContext>);
  if (typeof sessionId !== 'string' || typeof userId !== 'string' || typeof openid !== 'string' || !sessionId || !userId || !openid) {
    throw new AppError('UNAUTHORIZED');
  }
  return typeof unionid === 'string' && unionid ? { sessionId, userId, openid, unionid } : { sessionId, userId, openid };
}
