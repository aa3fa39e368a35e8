// Plain JavaScript, run by the Node that Lambda's runtime uses (see lambda-runtime.test.ts):
// loads the deployable bundles as Lambda loads an .mjs handler and takes one session through
// its life. The environment (settings of the local stack) comes from the parent. The last
// line printed is a JSON report of what each function answered.
import { authorizerEvent, httpEvent } from '../../local/lambda-events.mjs';

const bundles = JSON.parse(process.argv[2]);
const context = { awsRequestId: 'runtime-check', functionName: 'runtime-check', getRemainingTimeInMillis: () => 10_000 };
const load = async (name) => (await import(bundles[name])).handler;

let n = 0;
const request = (method, path, body, authorizer) =>
  httpEvent({ method, path, body, authorizer, requestId: `runtime-${++n}`, userAgent: 'runtime-check' });
const authorize = (token) => authorizerEvent(token, `runtime-${++n}`);

const [login, authorizer, me, logout] = await Promise.all(['login', 'authorizer', 'me', 'logout'].map(load));
const report = { node: process.version };
report.login = await login(request('POST', '/user/wechatlogin', JSON.stringify({ code: process.argv[3] })), context);
const { token } = JSON.parse(report.login.body);
report.authorize = await authorizer(authorize(token), context);
report.me = await me(request('GET', '/user/me', undefined, report.authorize.context), context);
report.logout = await logout(request('POST', '/user/logout', '', report.authorize.context), context);
report.authorizeAfterLogout = await authorizer(authorize(token), context);
report.badRequest = await login(request('POST', '/user/wechatlogin', '{"code":'), context);
process.stdout.write(`\n${JSON.stringify(report)}\n`);
