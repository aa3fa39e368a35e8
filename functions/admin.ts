import { AppError } from '../lib/errors';
import { adminRoute } from '../lib/http/handler';
import { json, noContent } from '../lib/http/respond';
import { parseSuspension } from '../lib/users/admin-request';
import { composeOperator } from '../lib/users/compose';

/**
 * The admin API (docs/operators.md, "The admin API"): the operator's use cases of
 * `npm run users` (lib/users/operator.ts), behind AWS_IAM. {id} is a userId; for the lookup, also
 * a phone number or an openid.
 *
 * GET    /admin/users/{id}                          → 200 the user (as `show` prints it) | 404
 * PUT    /admin/users/{id}/suspension  {reason, until?} → 200 {sessionsEnded}
 * DELETE /admin/users/{id}/suspension               → 204
 * GET    /admin/users/{id}/sessions                 → 200 {sessions}
 * DELETE /admin/users/{id}/sessions                 → 200 {sessionsEnded}
 * DELETE /admin/users/{id}/sessions/{session}       → 204 | 404 SESSION_NOT_FOUND
 * GET    /admin/accounts/{id}/export                → 200 the user's export
 * DELETE /admin/accounts/{id}                       → 204: the account deleted
 *
 * The data rights are under /admin/accounts, so an IAM policy can grant /admin/users/* (a
 * customer-service desk) without them: `*` in an execute-api ARN also matches `/`.
 */
export const handler = adminRoute(composeOperator, async ({ event, log, deps: { operator } }) => {
  const id = event.pathParameters?.id ?? '';
  const route = event.routeKey;
  const acted = (action: string, fields: Record<string, unknown> = {}) => log.info('admin action', { action, userId: id, ...fields });
  switch (route) {
    case 'GET /admin/users/{id}': {
      const user = await operator.show(id);
      if (!user) throw new AppError('NOT_FOUND', 'No user has that userId, phone number or openid.');
      acted('show', { userId: user.userId });
      return json(200, user);
    }
    case 'PUT /admin/users/{id}/suspension': {
      const suspension = parseSuspension(event);
      const result = await operator.suspend(id, suspension);
      acted('suspend', { until: suspension.until?.toISOString(), sessionsEnded: result.sessionsEnded });
      return json(200, result);
    }
    case 'DELETE /admin/users/{id}/suspension':
      await operator.unsuspend(id);
      acted('unsuspend');
      return noContent();
    case 'GET /admin/users/{id}/sessions': {
      const sessions = await operator.sessions(id);
      acted('sessions');
      return json(200, { sessions });
    }
    case 'DELETE /admin/users/{id}/sessions': {
      const result = await operator.revoke(id);
      acted('revoke', result);
      return json(200, result);
    }
    case 'DELETE /admin/users/{id}/sessions/{session}': {
      await operator.revoke(id, event.pathParameters?.session ?? '');
      acted('revoke', { session: event.pathParameters?.session });
      return noContent();
    }
    case 'GET /admin/accounts/{id}/export': {
      const exported = await operator.exportUser(id);
      acted('export');
      return json(200, exported, { 'content-disposition': `attachment; filename="account-${exported.userId}.json"` });
    }
    case 'DELETE /admin/accounts/{id}':
      await operator.deleteUser(id, log);
      acted('delete');
      return noContent();
    default:
      throw new AppError('NOT_FOUND', `No admin route ${route}.`);
  }
});
