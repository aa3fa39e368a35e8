import { loadConfig } from '../lib/config';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { maskCode } from '../lib/logger';
import { composeLogin } from '../lib/login/compose';
import { parseLoginRequest } from '../lib/login/request';

// Cold start: config is validated and clients are created once per container.
const { logger, service } = composeLogin(loadConfig());

/** POST /user/wechatlogin  {"code": "<wx.login() code>"} → 200 {token, expiresIn, userId, isNewUser} */
export const handler = httpHandler(logger, async (event, log) => {
  const { code } = parseLoginRequest(event);
  const result = await service.login(code, log.child({ loginCode: maskCode(code) }, [code]), event.requestContext.http.sourceIp);
  return json(200, result);
});
