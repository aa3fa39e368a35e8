import { requireUser, type AuthorizedEvent } from '../lib/http/auth-context';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { maskCode } from '../lib/logger';
import { composePhone } from '../lib/phone/compose';
import { parsePhoneRequest } from '../lib/phone/request';
import { initOnce } from '../lib/runtime';
import { withParameters } from '../lib/secrets';

// Cold start: the AppSecret and the Upstash settings are read (SSM in production), config is
// validated and clients are created, once per container.
const ready = initOnce(async () => composePhone(await withParameters(process.env, ['WECHAT_APPID', 'WECHAT_SECRET', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'])));

/** POST /user/phone {"code": "<getPhoneNumber e.detail.code>"} (behind the authorizer) → 200 {countryCode, purePhoneNumber, phoneNumber} */
export const handler = httpHandler<AuthorizedEvent, Awaited<ReturnType<typeof ready>>>(ready, async (event, log, { service }) => {
  const { userId, openid } = requireUser(event);
  const { code } = parsePhoneRequest(event);
  return json(200, await service.bind({ userId, openid }, code, log.child({ phoneCode: maskCode(code) })));
});
