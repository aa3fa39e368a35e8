import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

/** An HTTP API (payload 2.0) event as API Gateway sends it. */
export function httpEvent(overrides: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /user/wechatlogin',
    rawPath: '/user/wechatlogin',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'test',
      domainName: 'test.local',
      domainPrefix: 'test',
      // A different phone each time, as real traffic is (and so the per-IP login limit stays out of the way).
      http: { method: 'POST', path: '/user/wechatlogin', protocol: 'HTTP/1.1', sourceIp: `203.0.113.${Math.floor(Math.random() * 256)}`, userAgent: 'test' },
      requestId: `req-${Math.random().toString(36).slice(2)}`,
      routeKey: 'POST /user/wechatlogin',
      stage: '$default',
      time: '25/Nov/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
    ...overrides,
  };
}

export function loginEvent(code: unknown, overrides: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 {
  return httpEvent({ body: JSON.stringify({ code }), ...overrides });
}

/** A login from one fixed client IP. */
export function loginFrom(sourceIp: string, code: string): APIGatewayProxyEventV2 {
  const event = loginEvent(code);
  event.requestContext.http.sourceIp = sourceIp;
  return event;
}

export const lambdaContext = { awsRequestId: 'test-aws-request', functionName: 'login' } as Context;

/** Parses a handler result's JSON body. */
export function bodyOf(result: { body?: string }): any {
  return JSON.parse(result.body ?? 'null');
}

/** What API Gateway asks the session authorizer for a request to GET /user/me with this Authorization header. */
export function authorizerEvent(authorization?: string) {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/user/me',
    identitySource: authorization ? [authorization] : [],
    routeKey: 'GET /user/me',
    rawPath: '/user/me',
    rawQueryString: '',
    headers: authorization ? { authorization } : {},
    requestContext: { requestId: 'authz-request', routeKey: 'GET /user/me', http: { method: 'GET', path: '/user/me' } },
  };
}
