import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../lib/config';
import { AppError } from '../../lib/errors';
import { httpHandler } from '../../lib/http/handler';
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
    expect(lines.map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ level: 'error', message: 'function initialisation failed', errorCode: code })]);
  });
});
