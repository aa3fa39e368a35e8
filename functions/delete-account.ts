import { composeAccount } from '../lib/account/compose';
import { parseDeleteRequest } from '../lib/account/request';
import { protectedRoute } from '../lib/http/handler';
import { noContent } from '../lib/http/respond';
import { headerValue } from '../lib/http/body';
import { bearerToken } from '../lib/sessions/service';

/**
 * POST /user/delete {"code": "<a fresh wx.login code>"} (behind the authorizer) → 204.
 * Not run again after a credential rotation: its code is spent by then (lib/runtime.ts).
 */
export const handler = protectedRoute(
  composeAccount,
  async ({ user, event, log, deps: { account } }) => {
    const { code } = parseDeleteRequest(event);
    // The session's token: the fresh code's new session_key is sealed under it (lib/account/service.ts).
    const token = bearerToken(headerValue(event.headers, 'authorization'));
    await account.deleteWithCode(user, code, log, token ? { sessionId: user.sessionId, token } : undefined);
    return noContent();
  },
  { rerunAfterRotation: false },
);
