/**
 * `npm run push`: sends a signed WeChat message push to /wechat/events, as WeChat would, in
 * 安全模式 (the only mode the function accepts; there is no 明文模式 here).
 *   npm run push -- --event user_info_modified --user alice
 *   npm run push -- --event user_authorization_revoke --revoke 8 --user alice     (8: 手机号)
 *   npm run push -- --event user_authorization_cancellation --openid o…
 *   npm run push -- --check                                                        (the URL check)
 *   npm run push -- --event user_info_modified --user alice --xml                  (XML: a mini-program's URL refuses it, 400; a 公众号's or an App's applies it)
 *   npm run push -- --appid wx… --event user_info_modified --user alice            (another app's: /wechat/events/wx…)
 * The Token, EncodingAESKey and AppID come from WECHAT_PUSH_TOKEN, WECHAT_PUSH_AES_KEY and
 * WECHAT_APPID (`npm run dev` prints them), another app's from WECHAT_PUSH_TOKEN_<appid> and
 * WECHAT_PUSH_AES_KEY_<appid>, or from --env .local/dev-<port>.env (which `npm run dev` writes,
 * with its PORT); the URL from --url, else http://localhost:${PORT:-3000}/wechat/events[/<appid>].
 */
import { parseArgs } from 'node:util';
import { loadEnvFile } from './env-file';
import { stubOpenid } from './wechat-stub';
import { authorizationEvent, sendPush, signPush, urlCheck, type AuthorizationEvent } from './wechat-push';

const EVENTS: readonly AuthorizationEvent[] = ['user_authorization_revoke', 'user_authorization_cancellation', 'user_info_modified'];

const USAGE = `usage: npm run push -- --event <${EVENTS.join('|')}> (--user NAME | --openid OPENID) [--revoke N] [--xml]
       npm run push -- --check
       options: --env .local/dev-<port>.env (npm run dev writes it), --url <…/wechat/events>,
                --appid <another app's AppID> (its own Token and key, at /wechat/events/<appid>),
                --xml (a 公众号's format; its RevokeInfo: 205 profile; an App's: 301 its sessions)`;

function fail(message: string): never {
  console.error(`npm run push: ${message}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      event: { type: 'string' },
      user: { type: 'string' },
      openid: { type: 'string' },
      revoke: { type: 'string' },
      check: { type: 'boolean', default: false },
      xml: { type: 'boolean', default: false },
      url: { type: 'string' },
      env: { type: 'string' },
      appid: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

if (values.env) {
  const problem = loadEnvFile(values.env);
  if (problem) fail(problem);
}
// The local stack's AppID unless another is set, as in local/stack.ts; or the app --appid names.
const defaultAppId = process.env.WECHAT_APPID || 'wx0000000000local';
const appId = values.appid ?? defaultAppId;
// Another app's push settings carry its AppID (lib/apps.ts); the default app's are the plain ones.
const other = values.appid !== undefined && values.appid !== defaultAppId;
const own = (name: string) => (other ? `${name}_${values.appid}` : name);
if (other && !process.env[own('WECHAT_PUSH_TOKEN')] && values.env) {
  const apps = Object.keys(process.env).filter((key) => key.startsWith('WECHAT_PUSH_TOKEN_')).map((key) => key.slice('WECHAT_PUSH_TOKEN_'.length));
  fail(`${values.appid} is not an app of ${values.env} (its apps: ${[defaultAppId, ...apps].join(', ')})`);
}
const token = process.env[own('WECHAT_PUSH_TOKEN')] || fail(`set ${own('WECHAT_PUSH_TOKEN')}, or pass --env .local/dev-<port>.env (the file npm run dev writes and prints)`);
const encodingAesKey = process.env[own('WECHAT_PUSH_AES_KEY')];
const url = values.url ?? `http://localhost:${process.env.PORT || 3000}/wechat/events${other ? `/${values.appid}` : ''}`;

let request;
if (values.check) {
  request = urlCheck({ token });
} else {
  const event = values.event as AuthorizationEvent;
  if (!EVENTS.includes(event)) fail(`--event must be one of ${EVENTS.join(', ')}`);
  // The stub's openid of a user who logged in with code NAME or NAME.x.
  const openid = values.openid ?? (values.user ? stubOpenid(appId, values.user) : fail('give --user NAME (a user of the local WeChat stub) or --openid'));
  if (!encodingAesKey) fail(`set ${own('WECHAT_PUSH_AES_KEY')} (npm run dev prints it): pushes are sealed, in 安全模式`);
  request = signPush({ token, encodingAesKey, appId }, authorizationEvent(event, openid, appId, { revokeInfo: values.revoke }), { xml: values.xml });
}
const answer = await sendPush(url, request);
console.log(`${answer.status} ${answer.contentType ?? ''}\n${answer.body}`);
process.exit(answer.status === 200 ? 0 : 1);
