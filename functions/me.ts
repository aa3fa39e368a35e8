import { protectedRoute } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { composeUsers } from '../lib/users/compose';
import { getProfile } from '../lib/users/profile';

/** GET /user/me (behind the authorizer) → 200 {userId, createdAt, lastLoginAt, loginCount, unionid?, phone?, nickname?, avatarUrl?} */
export const handler = protectedRoute(composeUsers, async ({ user, deps: { users, avatarUrlOf } }) => json(200, await getProfile(users, user, avatarUrlOf)));
