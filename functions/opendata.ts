import { AppError } from '../lib/errors';
import { headerValue } from '../lib/http/body';
import { protectedRoute } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { composeOpenData } from '../lib/opendata/compose';
import { SessionEnded } from '../lib/opendata/service';
import { parseOpenDataRequest } from '../lib/opendata/request';
import { bearerToken } from '../lib/sessions/service';

/**
 * POST /user/opendata {"encryptedData", "iv"} (behind the authorizer) → 200 the decrypted JSON
 * without its watermark: wx.getWeRunData's stepInfoList, wx.getShareInfo's openGId, … (docs/api.md).
 */
export const handler = protectedRoute(composeOpenData, async ({ user, event, log, deps: { service } }) => {
  const request = parseOpenDataRequest(event);
  // The session's key is sealed under its token: the request's own, which the authorizer checked.
  const token = bearerToken(headerValue(event.headers, 'authorization'));
  if (!token) throw new AppError('UNAUTHORIZED');
  try {
    return json(200, await service.read(user, token, request, log));
  } catch (err) {
    if (!(err instanceof SessionEnded)) throw err;
    log.info('open data: the session ended during the request');
    return json(403, { message: 'Forbidden' });
  }
});
