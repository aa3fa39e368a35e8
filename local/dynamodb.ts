import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { listen, type RunningServer } from './http-util';
import type { TableDeclaration } from './template';

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
  /** The tables created, by name. */
  tables: string[];
  /** Each table's TTL attribute as the template declares it, by table name: recorded only, dynalite expires nothing. */
  timeToLive: Record<string, { attributeName: string; enabled: boolean }>;
  resetStats(): void;
  client: DynamoDBClient;
}

/**
 * An in-memory DynamoDB (dynalite) with the given tables created: those the template declares
 * (local/template.ts), with their key schemas and indexes, on demand as on AWS. Their TTL is
 * recorded, not applied: dynalite never expires items.
 */
export async function startDynamo(options: { tables: TableDeclaration[]; port?: number }): Promise<RunningDynamo> {
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
  for (const table of options.tables) {
    await client.send(
      new CreateTableCommand({
        TableName: table.name,
        AttributeDefinitions: table.attributeDefinitions,
        KeySchema: table.keySchema,
        ...(table.globalSecondaryIndexes ? { GlobalSecondaryIndexes: table.globalSecondaryIndexes as never } : {}),
        ...(table.localSecondaryIndexes ? { LocalSecondaryIndexes: table.localSecondaryIndexes as never } : {}),
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  const timeToLive = Object.fromEntries(options.tables.filter((table) => table.timeToLive).map((table) => [table.name, table.timeToLive!]));
  stats.requests = 0;
  return {
    ...running,
    stats,
    client,
    tables: options.tables.map((table) => table.name),
    timeToLive,
    resetStats() {
      stats.requests = 0;
    },
    async close() {
      client.destroy();
      await running.close();
    },
  };
}
