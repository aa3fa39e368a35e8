import { protectedRoute } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { composeAvatar } from '../lib/profile/compose';
import { readUploadedFile } from '../lib/profile/upload';

/** POST /user/avatar (behind the authorizer), multipart/form-data with the file in field `file` → 200 the profile */
export const handler = protectedRoute(composeAvatar, async ({ user, event, log, deps: { avatars, maxBytes } }) => {
  const file = await readUploadedFile(event, maxBytes);
  return json(200, await avatars.set(user, file, log));
});
