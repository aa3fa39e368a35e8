import { DynamoDBClient, DynamoDBServiceException, GetItemCommand, InternalServerError, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../lib/config';
import { AppError } from '../../lib/errors';
import { adminRoute, httpHandler, protectedRoute } from '../../lib/http/handler';
import type { Metrics } from '../../lib/metrics';
import { httpEvent } from '../support/events';
import { captureLogger } from '../support/log-capture';

/** lib/http/handler.ts on its own: init awaited, errors to responses, one log line at the right level, the Requests metric. */
const context = { awsRequestId: 'aws-1' } as Context;

function deps() {
  const { logger, entries } = captureLogger();
  const put: { name: string; dimensions?: Record<string, string> }[] = [];
  const metrics: Metrics = { put: (name, _v, _u, dimensions) => void put.push({ name, dimensions }), flush: () => {} };
  return { logger, metrics, entries, put };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Function: httpHandler', () => {
  it('answers the route, with a request-scoped logger, and counts it OK', async () => {
    const d = deps();
    const handler = httpHandler(async () => d, async (_event, log) => (log.info('hello'), { statusCode: 200, body: '{}' }));
    await expect(handler(httpEvent({ routeKey: 'GET /x' }), context)).resolves.toMatchObject({ statusCode: 200 });
    expect(d.entries()).toContainEqual(expect.objectContaining({ message: 'hello', route: 'GET /x', awsRequestId: 'aws-1' }));
    expect(d.put).toEqual([{ name: 'Requests', dimensions: { Route: 'GET /x', Outcome: 'OK' } }]);
  });

  it.each([
    [new AppError('INVALID_REQUEST', 'bad'), 400, 'info', 'request rejected'],
    [new AppError('SERVICE_UNAVAILABLE', 'redis down', { retryAfterSeconds: 2 }), 503, 'warn', 'dependency failure'],
    [new AppError('WECHAT_ERROR', 'bad secret'), 502, 'error', 'WeChat rejected our credentials or server: configuration problem'],
  ])('turns %s into its status and our error body, logged once at its level', async (err, status, level, message) => {
    const d = deps();
    const handler = httpHandler(async () => d, async () => {
      throw err;
    });
    const result = await handler(httpEvent({ routeKey: 'POST /y' }), context);
    expect(result.statusCode).toBe(status);
    expect(JSON.parse(result.body!)).toEqual({ error: { code: err.code, message: expect.any(String) } });
    if (err.retryAfterSeconds) expect(result.headers?.['retry-after']).toBe('2');
    expect(d.entries().filter((e) => e.errorCode === err.code)).toEqual([expect.objectContaining({ level, message })]);
    expect(d.put[0]).toEqual({ name: 'Requests', dimensions: { Route: 'POST /y', Outcome: err.code } });
    if (err.code === 'WECHAT_ERROR') expect(d.put.map((p) => p.name)).toContain('WechatErrors');
  });

  describe('an SDK client a route calls itself (aws-sdk-client-mock)', () => {
    const dynamo = mockClient(DynamoDBClient);
    afterEach(() => dynamo.reset());
    const route = () => {
      const d = deps();
      const client = new DynamoDBClient({});
      const handler = httpHandler(async () => d, async () => {
        await client.send(new GetItemCommand({ TableName: 'orders', Key: { id: { S: '1' } } }));
        return { statusCode: 200, body: '{}' };
      });
      return { d, answer: () => handler(httpEvent({ routeKey: 'GET /orders' }), context) };
    };

    it.each([
      ['throttling', new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } })],
      ['a 5xx', new InternalServerError({ message: 'oops', $metadata: { httpStatusCode: 500 } })],
      ['a timeout', Object.assign(new Error('no answer within 2000 ms'), { name: 'TimeoutError' })],
      ['a reset connection', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ])('answers %s with 503 SERVICE_UNAVAILABLE and Retry-After, logged at warn and counted as such', async (_kind, err) => {
      dynamo.on(GetItemCommand).rejects(err);
      const { d, answer } = route();
      const result = await answer();
      expect(result.statusCode).toBe(503);
      expect(result.headers?.['retry-after']).toBe('1');
      expect(JSON.parse(result.body!)).toEqual({ error: { code: 'SERVICE_UNAVAILABLE', message: 'The service is temporarily unavailable. Retry later.' } });
      expect(d.entries().filter((e) => e.level !== 'debug')).toEqual([expect.objectContaining({ level: 'warn', message: 'dependency failure', errorCode: 'SERVICE_UNAVAILABLE', cause: expect.stringContaining(err.name) })]);
      expect(d.put[0]).toEqual({ name: 'Requests', dimensions: { Route: 'GET /orders', Outcome: 'SERVICE_UNAVAILABLE' } });
    });

    it('answers a client fault (ValidationException) with 500 INTERNAL, logged at error', async () => {
      dynamo.on(GetItemCommand).rejects(new DynamoDBServiceException({ name: 'ValidationException', $fault: 'client', message: 'One or more parameter values were invalid', $metadata: { httpStatusCode: 400 } }));
      const { d, answer } = route();
      const result = await answer();
      expect(result.statusCode).toBe(500);
      expect(result.headers?.['retry-after']).toBeUndefined();
      expect(d.entries()).toContainEqual(expect.objectContaining({ level: 'error', errorCode: 'INTERNAL', errorName: 'ValidationException' }));
      expect(d.put[0]).toEqual({ name: 'Requests', dimensions: { Route: 'GET /orders', Outcome: 'INTERNAL' } });
    });
  });

  it('answers a bug with 500 INTERNAL and nothing of it, and logs its stack', async () => {
    const d = deps();
    const handler = httpHandler(async () => d, async () => {
      throw new TypeError('secret internals at line 3');
    });
    const result = await handler(httpEvent(), context);
    expect(result.statusCode).toBe(500);
    expect(result.body).not.toContain('secret internals');
    expect(d.entries()).toContainEqual(expect.objectContaining({ level: 'error', errorCode: 'INTERNAL', errorName: 'TypeError', stack: expect.stringContaining('TypeError') }));
  });

  it.each([
    [new ConfigError('WECHAT_SECRET is required'), 500, 'INTERNAL'],
    [new Error('SSM unreachable'), 503, 'SERVICE_UNAVAILABLE'],
  ])('answers a failed initialisation (%s) with %i, logged as one line, without running the route', async (err, status, code) => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => (lines.push(String(chunk)), true)) as typeof process.stdout.write);
    let ran = false;
    const handler = httpHandler(
      async () => {
        throw err;
      },
      async () => ((ran = true), { statusCode: 200 }),
    );
    const result = await handler(httpEvent(), context);
    expect(result.statusCode).toBe(status);
    expect(JSON.parse(result.body!).error.code).toBe(code);
    expect(ran).toBe(false);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: 'error', message: 'function initialisation failed', errorCode: code, requestId: expect.any(String), awsRequestId: 'aws-1', coldStart: true }),
    ]);
  });

  it('marks the first invocation of a container as its cold start, and no other', async () => {
    const d = deps();
    const handler = httpHandler(async () => d, async (_event, log) => (log.info('served'), { statusCode: 200 }));
    await handler(httpEvent(), context);
    await handler(httpEvent(), context);
    expect(d.entries().map((e) => e.coldStart)).toEqual([true, false]);
  });

  it('puts the X-Ray trace id of the invocation on every line, as Lambda sets it before each one', async () => {
    const d = deps();
    const handler = httpHandler(async () => d, async (_event, log) => (log.info('served'), { statusCode: 200 }));
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1');
    await handler(httpEvent(), context);
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-67891233-abcdef012345678912345678;Sampled=0');
    await handler(httpEvent(), context);
    vi.unstubAllEnvs();
    expect(d.entries().map((e) => e.xrayTraceId)).toEqual(['1-5759e988-bd862e3fe1be46a994272793', '1-67891233-abcdef012345678912345678']);
  });

  it('hands the composition root the environment, with the parameters resolved', async () => {
    vi.stubEnv('EXAMPLE_SETTING', 'plain');
    const seen: (string | undefined)[] = [];
    const handler = httpHandler(
      (env) => (seen.push(env.EXAMPLE_SETTING), deps()),
      async () => ({ statusCode: 204 }),
    );
    await handler(httpEvent(), context);
    vi.unstubAllEnvs();
    expect(seen).toEqual(['plain']);
  });
});

describe('The warm-keeper\'s ping', () => {
  it('initialises, counts one WarmPing and nothing else: no route, no Requests metric, no line above debug', async () => {
    const d = deps();
    let ran = false;
    const handler = httpHandler(async () => d, async () => ((ran = true), { statusCode: 200 }));
    await expect(handler({ warmPing: true } as never, context)).resolves.toEqual({ warm: true });
    expect(ran).toBe(false);
    expect(d.put).toEqual([{ name: 'WarmPing', dimensions: undefined }]);
    expect(d.entries().filter((e) => e.level !== 'debug')).toEqual([]);
  });

  it('leaves the container warm: the next real request is not its cold start', async () => {
    const d = deps();
    const handler = httpHandler(async () => d, async (_event, log) => (log.info('served'), { statusCode: 200 }));
    await handler({ warmPing: true } as never, context);
    await handler(httpEvent(), context);
    expect(d.entries().find((e) => e.message === 'served')).toMatchObject({ coldStart: false });
  });

  it('is never an API Gateway event, whatever its body says', async () => {
    const d = deps();
    const handler = httpHandler(async () => d, async () => ({ statusCode: 200, body: 'route' }));
    await expect(handler({ ...httpEvent(), warmPing: true } as never, context)).resolves.toMatchObject({ body: 'route' });
  });
});

describe('Function: protectedRoute', () => {
  const user = { sessionId: 's1', userId: 'u1', openid: 'o1' };

  it('hands the body the user the authorizer verified, and logs with its userId', async () => {
    const d = deps();
    const handler = protectedRoute(async () => d, async ({ user: who, log }) => (log.info('served'), { statusCode: 200, body: JSON.stringify(who) }));
    const result = await handler(httpEvent({ requestContext: { requestId: 'r', authorizer: { lambda: { ...user, extra: 'dropped' } } } as never }) as never, context);
    expect(JSON.parse(result.body!)).toEqual(user);
    expect(d.entries()).toContainEqual(expect.objectContaining({ message: 'served', userId: 'u1' }));
  });

  it('answers 401 UNAUTHORIZED, without running the body, on a route deployed without the authorizer', async () => {
    const d = deps();
    let ran = false;
    const handler = protectedRoute(async () => d, async () => ((ran = true), { statusCode: 200 }));
    const result = await handler(httpEvent() as never, context);
    expect(result.statusCode).toBe(401);
    expect(JSON.parse(result.body!).error.code).toBe('UNAUTHORIZED');
    expect(ran).toBe(false);
  });
});

describe('Function: adminRoute', () => {
  const iam = { userArn: 'arn:aws:sts::123456789012:assumed-role/console/alice', accountId: '123456789012' };

  it('hands the body the IAM caller API Gateway verified, and logs every line with its ARN', async () => {
    const d = deps();
    const handler = adminRoute(async () => d, async ({ caller, log }) => (log.info('admin action'), { statusCode: 200, body: JSON.stringify(caller) }));
    const result = await handler(httpEvent({ requestContext: { requestId: 'r', authorizer: { iam } } as never }) as never, context);
    expect(JSON.parse(result.body!)).toEqual(iam);
    expect(d.entries()).toContainEqual(expect.objectContaining({ message: 'admin action', caller: iam.userArn }));
  });

  it('answers 403 IAM_REQUIRED without running the body to a session’s context, none, or an IAM context without an ARN', async () => {
    for (const authorizer of [{ lambda: { sessionId: 's', userId: 'u', openid: 'o' } }, undefined, { iam: {} }, { iam: { userArn: 7 } }]) {
      const d = deps();
      let ran = false;
      const handler = adminRoute(async () => d, async () => ((ran = true), { statusCode: 200 }));
      const result = await handler(httpEvent({ requestContext: { requestId: 'r', ...(authorizer ? { authorizer } : {}) } as never }) as never, context);
      expect(result.statusCode).toBe(403);
      expect(JSON.parse(result.body!).error.code).toBe('IAM_REQUIRED');
      expect(ran).toBe(false);
    }
  });
});
