import { requireUser, type AuthorizedEvent } from '../lib/http/auth-context';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { getProfile } from '../lib/users/profile';
import { composeUsers } from '../lib/users/compose';
import { initOnce } from '../lib/runtime';

// Cold start: config is validated and the DynamoDB client is created once per container.
const ready = initOnce(async () => composeUsers());

/** GET /user/me (behind the authorizer) → 200 {userId, createdAt, lastLoginAt, loginCount, unionid?, phone?, nickname?, avatarUrl?} */
export const handler = httpHandler<AuthorizedEvent, Awaited<ReturnType<typeof ready>>>(ready, async (event, _log, { users, avatarUrlOf }) => {
  return json(200, await getProfile(users, requireUser(event), avatarUrlOf));
});
