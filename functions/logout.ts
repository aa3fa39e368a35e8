import { protectedRoute } from '../lib/http/handler';
import { noContent } from '../lib/http/respond';
import { composeSessions } from '../lib/sessions/compose';
import { parseLogoutRequest } from '../lib/sessions/logout-request';

/** POST /user/logout (behind the authorizer), optional body {"all": true} → 204 */
export const handler = protectedRoute(composeSessions, async ({ user, event, log, deps: { sessions } }) => {
  const { all } = parseLogoutRequest(event);
  const { revoked } = await sessions.logout(user, all);
  log.info('logged out', { all, revoked });
  return noContent();
});
