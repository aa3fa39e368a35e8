/**
 * `npm run dev`: the whole service on this machine. Starts the local stack (dynalite, Redis
 * behind an Upstash-compatible gateway, a WeChat stub, an S3 stand-in), then the API through
 * `serverless offline` on http://localhost:${PORT:-3000}. Ctrl-C stops everything it started.
 * HOST=0.0.0.0 listens on every interface, for a real phone on the network (it prints the URLs).
 */
// The functions run on nodejs22.x in Lambda; the SDK's notice about this workstation's Node
// version is noise here (the local stack creates a DynamoDB client in this process).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import net from 'node:net';
import { DEFAULT_HOST, lanNotice } from './dev-host';
import { devEnvPath, formatEnvFile, writeDevEnv } from './env-file';
import { exitOnSetupError } from './setup-error';
import { startLocalStack } from './stack';
import { offlineArgs, runServerless } from './serverless-cli';

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || DEFAULT_HOST;

/**
 * A listener on host:port, where serverless offline will listen, or the error that kept it
 * from listening (EADDRINUSE: the port is taken). It drops every connection at once (a client
 * polling for the API retries), so closing it never waits on one.
 */
const holdPort = () =>
  new Promise<net.Server | NodeJS.ErrnoException>((resolve) => {
    const holder = net.createServer((socket) => socket.destroy());
    holder.once('error', (error) => resolve(error));
    holder.listen(port, host, () => resolve(holder));
  });
/** Whether serverless offline could listen where it will. */
const portFree = async () => {
  const holder = await holdPort();
  if (holder instanceof Error) return false;
  await new Promise((resolve) => holder.close(resolve));
  return true;
};
const cannotListen = (error: NodeJS.ErrnoException): never => {
  if (error.code === 'EADDRINUSE') {
    console.error(`npm run dev: port ${port} is busy (another npm run dev?); pick another: PORT=${port + 1} npm run dev`);
  } else {
    // A HOST that is no address of this machine (EADDRNOTAVAIL) or no address at all (ENOTFOUND).
    console.error(`npm run dev: cannot listen on ${host}:${port} (${error.code}); set HOST=0.0.0.0 for every interface, or leave HOST unset for ${DEFAULT_HOST}`);
  }
  process.exit(1);
};
// Before anything starts, so a second `npm run dev` leaves nothing behind. The port stays held
// while the stack starts: its servers listen on ports the system picks, which could otherwise
// be this one (a dynalite on the API's port made serverless offline fail with EADDRINUSE).
const holding = await holdPort();
const held = holding instanceof Error ? cannotListen(holding) : holding;

// Without redis-server (or with a REDIS_URL that does not answer): one line naming the fix.
const stack = await startLocalStack().catch(exitOnSetupError('npm run dev'));
// For operator scripts (npm run revoke, npm run push -- --env FILE); removed when this run ends.
const envFile = devEnvPath(port);
writeDevEnv(envFile, formatEnvFile({ ...stack.env, PORT: String(port) }, `npm run dev on port ${port}, pid ${process.pid}; removed when it stops`));
// The pid lets a test pause this Redis (SIGSTOP) to play an outage; see test/support/dev-server.ts.
const redisNote = stack.redis.owned ? `private redis-server pid ${stack.redis.pid} (unix socket, no persistence)` : `REDIS_URL ${process.env.REDIS_URL}`;

console.log(`
  local stack
    DynamoDB (dynalite)  ${stack.dynamo.url}  tables ${stack.dynamo.tables.join(', ')} (the template's)
    Redis                ${redisNote}
    Upstash gateway      ${stack.gateway.url}
    WeChat stub          ${stack.wechat.url}  appid ${stack.env.WECHAT_APPID}, a second mini-program ${stack.env.WECHAT_APPID_MINI2} (WECHAT_APPID_MINI2),
                         a 公众号 ${stack.env.WECHAT_APPID_WEB} (WECHAT_APPID_WEB) and an App ${stack.env.WECHAT_APPID_APP} (WECHAT_APPID_APP)
    S3 (stand-in)        ${stack.s3.url}  bucket ${stack.s3.bucket}, files at ${stack.s3.publicUrl}/…
    WeChat message push  http://localhost:${port}/wechat/events  Token ${stack.env.WECHAT_PUSH_TOKEN}  EncodingAESKey ${stack.env.WECHAT_PUSH_AES_KEY}
                         http://localhost:${port}/wechat/events/${stack.env.WECHAT_APPID_MINI2}  (the second mini-program's: its own Token and key, in the env file below)
    Endpoints and keys   ${envFile}  (KEY=value lines for the operator scripts, removed on exit)

  API on http://localhost:${port} once serverless offline is up. Try:
    curl -s -X POST http://localhost:${port}/user/wechatlogin -H 'content-type: application/json' -d '{"code":"alice.union1"}'   # alice, whose apps are bound to the open platform
    curl -s -X POST http://localhost:${port}/user/wechatlogin -H 'content-type: application/json' -d '{"code":"alice.union2","appid":"${stack.env.WECHAT_APPID_MINI2}"}'   # alice in the second mini-program, with her unionid
    curl -s -X POST http://localhost:${port}/user/wechatlogin/web -H 'content-type: application/json' -d '{"code":"alice.userinfo.union3"}'   # alice on the 公众号's H5 page (snsapi_userinfo)
    curl -s -X POST http://localhost:${port}/user/wechatlogin/app -H 'content-type: application/json' -d '{"code":"alice.union4"}'   # alice in the App
    curl -s http://localhost:${port}/user/me -H "authorization: Bearer <token>"
    curl -s http://localhost:${port}/user/hello -H "authorization: Bearer <token>"   # the example route of your own (docs/sessions.md)
    curl -s -X POST http://localhost:${port}/user/phone -H "authorization: Bearer <token>" -H 'content-type: application/json' -d '{"code":"13800138000.a"}'
    curl -s -X POST http://localhost:${port}/user/avatar -H "authorization: Bearer <token>" -F file=@avatar.png   # a JPEG, PNG or WebP of at most ${stack.env.AVATAR_MAX_BYTES ?? 1048576} bytes
    curl -s -X POST http://localhost:${port}/user/profile -H "authorization: Bearer <token>" -H 'content-type: application/json' -d '{"nickname":"Alice"}'
    curl -s http://localhost:${port}/user/me/export -H "authorization: Bearer <token>"
    curl -s -X POST http://localhost:${port}/user/logout -H "authorization: Bearer <token>"
    curl -s -X POST http://localhost:${port}/user/delete -H "authorization: Bearer <token>" -H 'content-type: application/json' -d '{"code":"alice.2"}'   # a fresh code of the same user; ends every session
    npm run push -- --env ${envFile} --event user_authorization_revoke --revoke 8 --user alice
    npm run push -- --env ${envFile} --appid ${stack.env.WECHAT_APPID_MINI2} --event user_info_modified --user alice   # the second mini-program's push
    npm run push -- --env ${envFile} --appid ${stack.env.WECHAT_APPID_WEB} --event user_authorization_revoke --revoke 205 --user alice --xml   # the 公众号's (XML)
    npm run revoke -- --env ${envFile} --user <userId>
    npm run users -- --env ${envFile} show <userId | phone | openid>   # and suspend, unsuspend, sessions, export, delete, merge (docs/operators.md)
    curl -s http://localhost:${port}/user/sessions -H "authorization: Bearer <token>"   # your live sessions; DELETE /user/sessions/<id> ends one
    curl -s -X POST http://localhost:${port}/user/opendata -H "authorization: Bearer <token>" -H 'content-type: application/json' -d "$(curl -s -X POST ${stack.env.WECHAT_API_BASE}/__stub/opendata -d '{"name":"alice","data":{"stepInfoList":[]}}')"   # open data (docs/api.md)
${lanNotice(host, port)}`);

const args = await offlineArgs(port, host);
await new Promise((resolve) => held.close(resolve));
const child = runServerless(args, stack.env);
let stopping = false;
const shutdown = async (exitCode: number) => {
  if (stopping) return;
  stopping = true;
  if (child.exitCode === null) child.kill('SIGINT');
  await stack.stop();
  process.exit(exitCode);
};
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
child.on('exit', (code) => {
  // Taken between the check above and serverless offline's listen: say so, as above.
  if (!stopping && code) void portFree().then((free) => (free ? undefined : console.error(`npm run dev: port ${port} is busy; pick another: PORT=${port + 1} npm run dev`))).finally(() => void shutdown(code));
  else void shutdown(code ?? 0);
});
