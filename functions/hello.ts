import { protectedRoute } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { composeUsers } from '../lib/users/compose';

/**
 * GET /user/hello (behind the authorizer) → 200 {"message": "Hello, 丽塔", "userId": "01KAX…", "appid": "wx…"}.
 * The example of a route of your own: copy this file and deploy/routes/hello.yml.
 */
export const handler = protectedRoute(composeUsers, async ({ user, deps: { users } }) => {
  // `user` comes from the authorizer: { sessionId, userId, openid, appid, home?, unionid? }. Key
  // your own data by `userId`. `openid` and `appid` are the identity the session was opened
  // from; the user's profile is on its home row, `home` when that is another app's (docs/identities.md).
  const row = await users.findByOpenid(user.home ?? user.openid);
  return json(200, { message: row?.nickname ? `Hello, ${row.nickname}` : 'Hello', userId: user.userId, appid: user.appid });
});
