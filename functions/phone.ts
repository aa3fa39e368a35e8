import { protectedRoute } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { maskCode } from '../lib/logger';
import { composePhone } from '../lib/phone/compose';
import { parsePhoneRequest } from '../lib/phone/request';

/** POST /user/phone {"code": "<getPhoneNumber e.detail.code>"} (behind the authorizer) → 200 {countryCode, purePhoneNumber, phoneNumber} */
export const handler = protectedRoute(composePhone, async ({ user, event, log, deps: { service } }) => {
  const { code } = parsePhoneRequest(event);
  // The whole identity: WeChat is asked in the session's app; the number goes on the user's home row.
  return json(200, await service.bind(user, code, log.child({ phoneCode: maskCode(code) })));
});
