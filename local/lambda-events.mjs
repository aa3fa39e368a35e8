// API Gateway HTTP API events (payload 2.0) as the built bundles receive them, in plain
// JavaScript: the harnesses that run those bundles under any Node, without the TypeScript
// test support, use them (bench/worker.mjs, test/support/lambda-runtime-driver.mjs).

/** A request to a route; `authorizer` is the context the session authorizer passed on. */
export function httpEvent({ method, path, body, requestId, sourceIp = '203.0.113.7', userAgent = 'local', authorizer }) {
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    ...(body === undefined ? {} : { body }),
    requestContext: {
      requestId,
      routeKey: `${method} ${path}`,
      stage: '$default',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp, userAgent },
      ...(authorizer ? { authorizer: { lambda: authorizer } } : {}),
    },
  };
}

/** A request to POST /user/phone {"code"}; `authorizer` is what the session authorizer passed on. */
export function phoneEvent({ code, authorizer, requestId, sourceIp, userAgent }) {
  return httpEvent({ method: 'POST', path: '/user/phone', body: JSON.stringify({ code }), authorizer, requestId, sourceIp, userAgent });
}

/** What API Gateway asks the session authorizer for a request to `route` (GET /user/me unless told). */
export function authorizerEvent(token, requestId, { method = 'GET', path = '/user/me' } = {}) {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: `arn:aws:execute-api:us-east-1:123456789012:api/$default/${method}${path}`,
    identitySource: [`Bearer ${token}`],
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: { authorization: `Bearer ${token}` },
    requestContext: { requestId, routeKey: `${method} ${path}`, http: { method, path } },
  };
}
