import { AppError } from '../lib/errors';
import { httpHandler } from '../lib/http/handler';
import { text } from '../lib/http/respond';
import { composeWechatEvents } from '../lib/push/compose';
import { readPushRequest } from '../lib/push/request';

/**
 * GET /wechat/events: WeChat's URL check → 200 the echostr, or 403.
 * POST /wechat/events: a push (安全模式 only, JSON) → 200 `success`, 403 明文模式, unsigned or
 * expired, 503/500 when it could not be applied (WeChat retries). No session authorizer: WeChat signs.
 */
export const handler = httpHandler(composeWechatEvents, async (event, log, { push }) => {
  const request = readPushRequest(event);
  if (request.method === 'GET') return text(200, push.verifyUrl(request.query));
  if (request.method !== 'POST') throw new AppError('INVALID_REQUEST', 'GET or POST only.');
  await push.receive(request, log);
  return text(200, 'success');
});
