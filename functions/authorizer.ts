import { authorizerHandler } from '../lib/http/authorizer';
import { composeSessions } from '../lib/sessions/compose';

export { AuthorizerUnavailableError } from '../lib/http/authorizer';

/**
 * HTTP API Lambda authorizer for every protected route: a live session passes `sessionId`,
 * `userId`, `openid` (and `unionid`) to the route as `requestContext.authorizer.lambda`; a
 * missing, malformed, unknown, expired or revoked token is denied (403). When sessions cannot
 * be verified (Redis unreachable, the function cannot initialise) it throws, and API Gateway
 * answers 500 (lib/http/authorizer.ts says why).
 *
 * Cold start: the Upstash token is read (SSM in production), config is validated and the
 * Redis client is created, once per container.
 */
export const handler = authorizerHandler(composeSessions, (header, { sessions }) => sessions.authorize(header));
