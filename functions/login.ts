import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { maskCode } from '../lib/logger';
import { composeLogin } from '../lib/login/compose';
import { headerValue } from '../lib/http/body';
import { agentSummary, clientNetwork, parseLoginRequest } from '../lib/login/request';

/**
 * POST /user/wechatlogin  {"code": "<wx.login() code>", "appid"?: "wx…"} (+ X-Login-Proof) → 200 {token, expiresIn, userId, isNewUser}
 * POST /user/wechatlogin/web  {"code": "<a 公众号 page's OAuth code>", "appid"?} → the same
 * POST /user/wechatlogin/app  {"code": "<an App's OAuth code>", "appid"?} → the same
 */
export const handler = httpHandler(composeLogin, async (event, log, { service: miniProgram, serviceFor }) => {
  const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
  const service = path.endsWith('/web') ? serviceFor('officialAccount')! : path.endsWith('/app') ? serviceFor('mobileApp')! : miniProgram;
  const { code, appid, proof } = parseLoginRequest(event);
  // The code is logged masked and never registered for scrubbing by value: it is chosen by
  // the client, which could otherwise pick one equal to another field and erase it.
  const network = clientNetwork(event.requestContext?.http?.sourceIp);
  const agent = agentSummary(headerValue(event.headers, 'user-agent'));
  const result = await service.login(code, log.child({ loginCode: maskCode(code) }), { network, ...(proof ? { proof } : {}), ...(appid ? { appid } : {}), ...(agent ? { agent } : {}) });
  return json(200, result);
});
