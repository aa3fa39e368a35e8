import { requireUser, type AuthorizedEvent } from '../lib/http/auth-context';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/respond';
import { parseLogoutRequest } from '../lib/sessions/logout-request';
import { composeSessions } from '../lib/sessions/compose';
import { initOnce } from '../lib/runtime';
import { withParameters } from '../lib/secrets';

// Cold start: the Upstash token is read (SSM in production), config is validated and the
// Redis client is created, once per container.
const ready = initOnce(async () => composeSessions(await withParameters(process.env, ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'])));

/** POST /user/logout (behind the authorizer), optional body {"all": true} → 204 */
export const handler = httpHandler<AuthorizedEvent, Awaited<ReturnType<typeof ready>>>(ready, async (event, log, { sessions }) => {
  const user = requireUser(event);
  const { all } = parseLogoutRequest(event);
  const { revoked } = await sessions.logout(user, all);
  log.info('logged out', { userId: user.userId, all, revoked });
  return noContent();
});
