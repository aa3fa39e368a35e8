import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../lib/adapters/dynamodb';
import { httpHandler } from '../../lib/http/handler';
import { json } from '../../lib/http/respond';
import { LOCAL_AWS_ENV, startDynamo } from '../../local/dynamodb';
import { httpEvent } from '../support/events';
import { keyedByOpenid } from '../support/local';
import { captureLogger } from '../support/log-capture';

/**
 * A route that calls DynamoDB itself, through no adapter of ours: the shared wrapper answers
 * the SDK's failures by what they are (lib/errors.ts asAppError), against real dynalite.
 */
describe('A route of its own over DynamoDB (integration)', () => {
  beforeAll(() => {
    // Region and credentials come from the environment, as in Lambda.
    Object.assign(process.env, LOCAL_AWS_ENV);
  });

  function ordersRoute(endpoint: string, table: string) {
    const { logger, entries } = captureLogger();
    const client = createDynamoClient({ endpoint, timeoutMs: 300 });
    const handler = httpHandler(async () => ({ logger }), async () => {
      const { Item } = await client.send(new GetItemCommand({ TableName: table, Key: { openid: { S: 'order-1' } } }));
      return json(200, { found: Boolean(Item) });
    });
    return { answer: () => handler(httpEvent({ routeKey: 'GET /orders' })), entries };
  }

  it('answers 503 SERVICE_UNAVAILABLE with Retry-After once dynalite is stopped, logged at warn', async () => {
    const dynamo = await startDynamo({ tables: [keyedByOpenid('orders')] });
    const route = ordersRoute(dynamo.url, 'orders');
    expect((await route.answer()).statusCode).toBe(200);

    await dynamo.close();
    const result = await route.answer();

    expect(result.statusCode).toBe(503);
    expect(result.headers?.['retry-after']).toBe('1');
    expect(JSON.parse(result.body!)).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    expect(route.entries()).toContainEqual(expect.objectContaining({ level: 'warn', errorCode: 'SERVICE_UNAVAILABLE', cause: expect.stringMatching(/ECONNREFUSED|ECONNRESET/) }));
  });

  it('answers 500 INTERNAL for a table that does not exist (a deployment mistake), logged at error', async () => {
    const dynamo = await startDynamo({ tables: [keyedByOpenid('orders')] });
    try {
      const route = ordersRoute(dynamo.url, 'no-such-table');
      const result = await route.answer();
      expect(result.statusCode).toBe(500);
      expect(result.headers?.['retry-after']).toBeUndefined();
      expect(route.entries()).toContainEqual(expect.objectContaining({ level: 'error', errorCode: 'INTERNAL', errorName: 'ResourceNotFoundException' }));
    } finally {
      await dynamo.close();
    }
  });
});
