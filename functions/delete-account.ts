import { composeAccount } from '../lib/account/compose';
import { parseDeleteRequest } from '../lib/account/request';
import { requireUser, type AuthorizedEvent } from '../lib/http/auth-context';
import { httpHandler } from '../lib/http/handler';
import { noContent } from '../lib/http/respond';
import { initOnce } from '../lib/runtime';
import { withParameters } from '../lib/secrets';

// Cold start: the AppSecret (to re-authenticate) and the Upstash settings are read (SSM in
// production), config is validated and clients are created, once per container.
const ready = initOnce(async () => composeAccount(await withParameters(process.env, ['WECHAT_APPID', 'WECHAT_SECRET', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'])));

/** POST /user/delete {"code": "<a fresh wx.login code>"} (behind the authorizer) → 204 */
export const handler = httpHandler<AuthorizedEvent, Awaited<ReturnType<typeof ready>>>(ready, async (event, log, { account }) => {
  const { code } = parseDeleteRequest(event);
  await account.deleteWithCode(requireUser(event), code, log);
  return noContent();
});
