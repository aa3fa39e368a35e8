import { protectedRoute } from '../lib/http/handler';
import { json, noContent } from '../lib/http/respond';
import { composeSessions } from '../lib/sessions/compose';

/**
 * GET /user/sessions → 200 {sessions: [{id, current, createdAt, lastUsedAt, expiresAt, maxExpiresAt, appid?, network?, agent?}]}
 * DELETE /user/sessions/{id} → 204: that session ended ("sign out that phone"); 404 SESSION_NOT_FOUND when it is not a live one of the caller's.
 */
export const handler = protectedRoute(composeSessions, async ({ user, event, log, deps: { sessions } }) => {
  if (event.requestContext.http.method === 'DELETE') {
    const id = event.pathParameters?.id;
    await sessions.end(user, id);
    log.info('session ended by its user', { session: id });
    return noContent();
  }
  return json(200, { sessions: await sessions.list(user) });
});
