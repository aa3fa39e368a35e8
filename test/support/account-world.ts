import { expect } from 'vitest';
import { stubOpenid } from '../../local/wechat-stub';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from './events';
import { coldStart, type Handler } from './local';
import { IMAGES, uploadEvent } from './multipart';

/** The functions a user's whole account runs through, each loaded as Lambda loads it. */
export interface AccountFunctions {
  login: Handler;
  authorize: (event: unknown) => Promise<{ isAuthorized: boolean; context?: Record<string, string> }>;
  logout: Handler;
  phone: Handler;
  avatar: Handler;
  profile: Handler;
  deleteAccount: Handler;
  wechatEvents: Handler;
}

export async function coldStartAccountFunctions(env: Record<string, string>): Promise<AccountFunctions> {
  return {
    login: await coldStart('login', env),
    authorize: await coldStart('authorizer', env),
    logout: await coldStart('logout', env),
    phone: await coldStart('phone', env),
    avatar: await coldStart('avatar', env),
    profile: await coldStart('profile', env),
    deleteAccount: await coldStart('delete-account', env),
    wechatEvents: await coldStart('wechat-events', env),
  };
}

/** A mainland number the WeChat stub answers a phone code with (`<number>.<anything>`). */
export const randomPhone = () => `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;

/**
 * A signed-in user `name` (the stub's user for codes `name.*`) with a phone number and an
 * avatar: everything a deletion removes. `as` builds an event of this user's, as API Gateway
 * hands it over once the authorizer allowed the token.
 */
export async function userWithData(fns: AccountFunctions, appId: string, name: string, ip = '198.51.100.251') {
  const signedIn = await fns.login(loginFrom(ip, `${name}.1`));
  expect(signedIn.statusCode).toBe(200);
  const { token, userId } = bodyOf(signedIn) as { token: string; userId: string };
  const allowed = await fns.authorize(authorizerEvent(`Bearer ${token}`));
  const as = (routeKey: string, extra: Record<string, unknown>) =>
    httpEvent({ routeKey, ...extra, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: allowed.context } } as never });
  expect((await fns.phone(as('POST /user/phone', { body: JSON.stringify({ code: `${randomPhone()}.${name}` }) }))).statusCode).toBe(200);
  const { headers, body, isBase64Encoded } = await uploadEvent(IMAGES.png);
  expect((await fns.avatar(as('POST /user/avatar', { headers, body, isBase64Encoded }))).statusCode).toBe(200);
  return { name, openid: stubOpenid(appId, name), token, userId, as };
}
export type UserWithData = Awaited<ReturnType<typeof userWithData>>;
