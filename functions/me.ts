import { requireUser, type AuthorizedEvent } from '../lib/http/auth-context';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { getProfile } from '../lib/users/profile';
import { composeUsers } from '../lib/users/compose';

// Cold start: config is validated and the DynamoDB client is created once per container.
const { logger, users } = composeUsers();

/** GET /user/me (behind the authorizer) → 200 {userId, createdAt, lastLoginAt, loginCount, unionid?} */
export const handler = httpHandler<AuthorizedEvent>(logger, async (event) => {
  return json(200, await getProfile(users, requireUser(event)));
});
