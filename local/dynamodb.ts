import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { listen, type RunningServer } from './http-util';

/** Placeholder credentials: dynalite accepts any, and the SDK must not go looking for real ones. */
export const LOCAL_AWS_ENV = {
  AWS_REGION: 'us-east-1',
  // The SDK warns that Node 20 support ends; that concerns this workstation only, since the
  // functions run on nodejs22.x in Lambda (serverless.yml).
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
};

export interface RunningDynamo extends RunningServer {
  stats: { requests: number };
  resetStats(): void;
  client: DynamoDBClient;
}

/**
 * An in-memory DynamoDB (dynalite) with the users table (and the phone claims table, when
 * named) created: the same key schemas and billing mode serverless.yml declares for AWS.
 */
export async function startDynamo(options: { tableName: string; phonesTable?: string; port?: number }): Promise<RunningDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const stats = { requests: 0 };
  server.on('request', () => {
    stats.requests++;
  });
  const running = await listen(server, options.port);
  const client = new DynamoDBClient({
    endpoint: running.url,
    region: LOCAL_AWS_ENV.AWS_REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(
    new CreateTableCommand({
      TableName: options.tableName,
      AttributeDefinitions: [{ AttributeName: 'openid', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'openid', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  if (options.phonesTable) {
    await client.send(
      new CreateTableCommand({
        TableName: options.phonesTable,
        AttributeDefinitions: [
          { AttributeName: 'phone', AttributeType: 'S' },
          { AttributeName: 'userId', AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: 'phone', KeyType: 'HASH' }],
        // As serverless.yml's PhonesTable: a user's claims, for the account deletion.
        GlobalSecondaryIndexes: [{ IndexName: 'byUser', KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  stats.requests = 0;
  return {
    ...running,
    stats,
    client,
    resetStats() {
      stats.requests = 0;
    },
    async close() {
      client.destroy();
      await running.close();
    },
  };
}
