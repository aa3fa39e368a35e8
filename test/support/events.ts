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
      http: { method: 'POST', path: '/user/wechatlogin', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'test' },
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

export const lambdaContext = { awsRequestId: 'test-aws-request', functionName: 'login' } as Context;

/** Parses a handler result's JSON body. */
export function bodyOf(result: { body?: string }): any {
  return JSON.parse(result.body ?? 'null');
}
