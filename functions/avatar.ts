import { requireUser, type AuthorizedEvent } from '../lib/http/auth-context';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { composeAvatar } from '../lib/profile/compose';
import { readUploadedFile } from '../lib/profile/upload';
import { initOnce } from '../lib/runtime';

// Cold start: config is validated and the S3 and DynamoDB clients are created, once per container.
const ready = initOnce(async () => composeAvatar());

/** POST /user/avatar (behind the authorizer), multipart/form-data with the file in field `file` → 200 the profile */
export const handler = httpHandler<AuthorizedEvent, Awaited<ReturnType<typeof ready>>>(ready, async (event, log, { avatars, maxBytes }) => {
  const user = requireUser(event);
  const file = await readUploadedFile(event, maxBytes);
  return json(200, await avatars.set(user, file, log));
});
