import { loadConfig } from '../lib/config';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { maskCode } from '../lib/logger';
import { composeLogin } from '../lib/login/compose';
import { clientNetwork, parseLoginRequest } from '../lib/login/request';
import { initOnce } from '../lib/runtime';
import { withParameters } from '../lib/secrets';

// Cold start: secrets are read (SSM in production), config is validated and clients are
// created, once per container.
const ready = initOnce(async () => composeLogin(loadConfig(await withParameters(process.env, ['WECHAT_APPID', 'WECHAT_SECRET', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN']))));

/** POST /user/wechatlogin  {"code": "<wx.login() code>"} (+ X-Login-Proof) → 200 {token, expiresIn, userId, isNewUser} */
export const handler = httpHandler(ready, async (event, log, { service }) => {
  const { code, proof } = parseLoginRequest(event);
  // The code is logged masked and never registered for scrubbing by value: it is chosen by
  // the client, which could otherwise pick one equal to another field and erase it.
  const network = clientNetwork(event.requestContext?.http?.sourceIp);
  const result = await service.login(code, log.child({ loginCode: maskCode(code) }), proof ? { network, proof } : { network });
  return json(200, result);
});
