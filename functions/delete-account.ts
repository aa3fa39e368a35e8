import { composeAccount } from '../lib/account/compose';
import { parseDeleteRequest } from '../lib/account/request';
import { protectedRoute } from '../lib/http/handler';
import { noContent } from '../lib/http/respond';

/**
 * POST /user/delete {"code": "<a fresh wx.login code>"} (behind the authorizer) → 204.
 * Not run again after a credential rotation: its code is spent by then (lib/runtime.ts).
 */
export const handler = protectedRoute(
  composeAccount,
  async ({ user, event, log, deps: { account } }) => {
    const { code } = parseDeleteRequest(event);
    await account.deleteWithCode(user, code, log);
    return noContent();
  },
  { rerunAfterRotation: false },
);
