import { requireUser, type AuthorizedEvent } from '../lib/http/auth-context';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/respond';
import { composeNickname } from '../lib/profile/compose';
import { parseNicknameRequest } from '../lib/profile/request';
import { initOnce } from '../lib/runtime';
import { withParameters } from '../lib/secrets';

// Cold start: the AppSecret and the Upstash settings are read (SSM in production), config is
// validated and clients are created, once per container.
const ready = initOnce(async () => composeNickname(await withParameters(process.env, ['WECHAT_APPID', 'WECHAT_SECRET', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'])));

/** POST /user/profile {"nickname": "..."} (behind the authorizer) → 200 the profile */
export const handler = httpHandler<AuthorizedEvent, Awaited<ReturnType<typeof ready>>>(ready, async (event, log, { nicknames }) => {
  const { nickname } = parseNicknameRequest(event);
  return json(200, await nicknames.set(requireUser(event), nickname, log));
});
