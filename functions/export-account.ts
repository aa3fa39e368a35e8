import { composeExport } from '../lib/account/compose';
import { requireUser, type AuthorizedEvent } from '../lib/http/auth-context';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { initOnce } from '../lib/runtime';
import { withParameters } from '../lib/secrets';

// Cold start: the Upstash settings are read (SSM in production), config is validated and
// clients are created, once per container.
const ready = initOnce(async () => composeExport(await withParameters(process.env, ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'])));

/** GET /user/me/export (behind the authorizer) → 200, everything stored about the user, as a download */
export const handler = httpHandler<AuthorizedEvent, Awaited<ReturnType<typeof ready>>>(ready, async (event, _log, { exportFor }) => {
  const data = await exportFor(requireUser(event));
  return json(200, data, { 'content-disposition': `attachment; filename="account-${data.userId}.json"` });
});
