import { composeExport } from '../lib/account/compose';
import { protectedRoute } from '../lib/http/handler';
import { json } from '../lib/http/respond';

/** GET /user/me/export (behind the authorizer) → 200, everything stored about the user, as a download */
export const handler = protectedRoute(composeExport, async ({ user, deps: { exportFor } }) => {
  const data = await exportFor(user);
  return json(200, data, { 'content-disposition': `attachment; filename="account-${data.userId}.json"` });
});
