import { AppError } from '../lib/errors';
import { httpHandler } from '../lib/http/handler';
import { text } from '../lib/http/respond';
import { composeWechatEvents } from '../lib/push/compose';
import { readPushRequest } from '../lib/push/request';

/**
 * The default app's pushes at /wechat/events, another app's at /wechat/events/{appid} (an AppID
 * of WECHAT_APPS, else 404): each checked with that app's own Token and EncodingAESKey.
 * GET /wechat/events: WeChat's URL check → 200 the echostr, or 403.
 * POST /wechat/events: a push (安全模式 only, JSON) → 200 `success`, 403 明文模式, unsigned or
 * expired, 503/500 when it could not be applied (WeChat retries). No session authorizer: WeChat signs.
 */
export const handler = httpHandler(composeWechatEvents, async (event, log, { push }) => {
  const request = readPushRequest(event);
  const app = push(event.pathParameters?.appid);
  if (request.method === 'GET') return text(200, app.verifyUrl(request.query));
  if (request.method !== 'POST') throw new AppError('INVALID_REQUEST', 'GET or POST only.');
  await app.receive(request, log);
  return text(200, 'success');
});
