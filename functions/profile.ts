import { protectedRoute } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { composeNickname } from '../lib/profile/compose';
import { parseNicknameRequest } from '../lib/profile/request';

/** POST /user/profile {"nickname": "..."} (behind the authorizer) → 200 the profile */
export const handler = protectedRoute(composeNickname, async ({ user, event, log, deps: { nicknames } }) => {
  const { nickname } = parseNicknameRequest(event);
  return json(200, await nicknames.set(user, nickname, log));
});
