import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../lib/adapters/dynamodb';
import { DynamoUserRepository } from '../../lib/adapters/dynamodb-users';
import { HttpTimeoutError, sendRaw, type Transport } from '../../lib/adapters/http';
import { LOCAL_AWS_ENV, startDynamo, type RunningDynamo } from '../../local/dynamodb';
import { keyedByOpenid } from '../support/local';

/**
 * The avatar upload's count when a window starts and the answer to that write is lost after
 * DynamoDB applied it: the SDK sends the write again (it is marked idempotent), and the copy
 * must find the window its first copy started, not count the upload a second time.
 */
describe('Avatar upload window, its start written twice (integration)', () => {
  const table = 'upload-window-test';
  let dynamo: RunningDynamo;

  beforeAll(async () => {
    Object.assign(process.env, LOCAL_AWS_ENV);
    dynamo = await startDynamo({ tables: [keyedByOpenid(table)] });
  });
  afterAll(async () => {
    await dynamo?.close();
  });

  /** A transport that applies the first request whose body matches `lose`, then loses its answer. */
  function losingOnce(lose: RegExp): Pick<Transport, 'sendRaw'> {
    let lost = false;
    return {
      async sendRaw(url, options) {
        const body = typeof options.body === 'string' ? options.body : Buffer.from(options.body ?? new Uint8Array()).toString('utf8');
        const result = await sendRaw(url, options);
        if (!lost && lose.test(body)) {
          lost = true;
          throw new HttpTimeoutError(`lost answer to ${url}`);
        }
        return result;
      },
    };
  }

  it('counts the upload once when the window-start write is applied and its answer lost', async () => {
    const owner = { userId: '01UPLOADER', openid: `o-upload-${Date.now()}` };
    // A row whose count belongs to an old window: this upload starts a new one.
    await dynamo.client.send(new PutItemCommand({ TableName: table, Item: { openid: { S: owner.openid }, userId: { S: owner.userId }, uploadWindow: { N: '1' }, uploadCount: { N: '5' } } }));
    const client = createDynamoClient({ endpoint: dynamo.url, timeoutMs: 2000 }, losingOnce(/SET uploadWindow = :window, uploadCount = :one/));
    const users = new DynamoUserRepository(client, table);

    const { uploads } = await users.leaseUpload(owner, Date.now() + 10_000, 3_600_000);

    expect(uploads).toBe(1);
    const { Item } = await dynamo.client.send(new GetItemCommand({ TableName: table, Key: { openid: { S: owner.openid } } }));
    expect(Item?.uploadCount).toEqual({ N: '1' });
  });
});
