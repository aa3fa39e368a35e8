// Plain JavaScript, run by the Node that Lambda's runtime uses (see lambda-runtime.test.ts):
// loads the deployable bundles as Lambda loads an .mjs handler and takes one session through
// its life. The environment (settings of the local stack) comes from the parent. The last
// line printed is a JSON report of what each function answered.
const bundles = JSON.parse(process.argv[2]);
const context = { awsRequestId: 'runtime-check', functionName: 'runtime-check', getRemainingTimeInMillis: () => 10_000 };
const load = async (name) => (await import(bundles[name])).handler;

let n = 0;
const httpEvent = (method, path, body, authorizer) => ({
  version: '2.0',
  routeKey: `${method} ${path}`,
  rawPath: path,
  rawQueryString: '',
  headers: { 'content-type': 'application/json' },
  isBase64Encoded: false,
  ...(body === undefined ? {} : { body }),
  requestContext: {
    requestId: `runtime-${++n}`,
    routeKey: `${method} ${path}`,
    stage: '$default',
    http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'runtime-check' },
    ...(authorizer ? { authorizer: { lambda: authorizer } } : {}),
  },
});
const authorizerEvent = (token) => ({
  version: '2.0',
  type: 'REQUEST',
  routeArn: 'arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/user/me',
  identitySource: [`Bearer ${token}`],
  routeKey: 'GET /user/me',
  rawPath: '/user/me',
  rawQueryString: '',
  headers: { authorization: `Bearer ${token}` },
  requestContext: { requestId: `runtime-${++n}`, routeKey: 'GET /user/me', http: { method: 'GET', path: '/user/me' } },
});

const [login, authorize, me, logout] = await Promise.all(['login', 'authorizer', 'me', 'logout'].map(load));
const report = { node: process.version };
report.login = await login(httpEvent('POST', '/user/wechatlogin', JSON.stringify({ code: process.argv[3] })), context);
const { token } = JSON.parse(report.login.body);
report.authorize = await authorize(authorizerEvent(token), context);
report.me = await me(httpEvent('GET', '/user/me', undefined, report.authorize.context), context);
report.logout = await logout(httpEvent('POST', '/user/logout', '', report.authorize.context), context);
report.authorizeAfterLogout = await authorize(authorizerEvent(token), context);
report.badRequest = await login(httpEvent('POST', '/user/wechatlogin', '{"code":'), context);
process.stdout.write(`\n${JSON.stringify(report)}\n`);
