import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { declarationsOf } from '../../local/template';
import { useLocalStack } from '../support/local';

/**
 * The local stack is built from the template (local/template.ts), not from lists of its own:
 * what deploy/ declares is what `npm run dev` and the tests run against.
 */
describe('Local stack, built from the template (integration)', () => {
  const ctx = useLocalStack();

  it('creates every table the template declares, with its keys and indexes, under the local stage’s names', async () => {
    const { tables } = ctx.stack.declarations;
    expect(tables.map((table) => table.id)).toEqual(expect.arrayContaining(['UsersTable', 'PhonesTable']));
    for (const table of tables) {
      const { Table } = await ctx.stack.dynamo.client.send(new DescribeTableCommand({ TableName: table.name }));
      expect(Table?.KeySchema, table.id).toEqual(table.keySchema);
      expect((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName), table.id).toEqual(((table.globalSecondaryIndexes ?? []) as { IndexName: string }[]).map((index) => index.IndexName));
    }
    expect(ctx.stack.dynamo.tables).toContain('wechat-login-dev-users');
    // Recorded as declared; dynalite itself never expires an item.
    expect(ctx.stack.dynamo.timeToLive['wechat-login-dev-users']).toEqual({ attributeName: 'purgeAt', enabled: true });
  });

  it('names each table to the functions by the variable their template gives them', () => {
    expect(ctx.env).toMatchObject({ USERS_TABLE: 'wechat-login-dev-users', PHONES_TABLE: 'wechat-login-dev-phones' });
    expect(ctx.stack.declarations.tableVariables.login).toEqual({ USERS_TABLE: 'wechat-login-dev-users', UNIONIDS_TABLE: 'wechat-login-dev-unionids' });
  });

  it('takes the avatars bucket’s lifecycle rule from the template', () => {
    expect(ctx.stack.s3.lifecycle).toEqual([{ id: 'expire-pending-avatars', prefix: 'avatars/', tags: { avatar: 'pending' }, expirationInDays: 1 }]);
  });

  it('serves the SSM parameters the template names, SecureStrings and Strings as they must be stored', () => {
    expect(ctx.stack.parameters.WECHAT_SECRET).toMatchObject({ name: '/wechat-login/dev/wechat-secret', type: 'SecureString' });
    expect(ctx.stack.parameters.WECHAT_APPID).toMatchObject({ name: '/wechat-login/dev/wechat-appid', type: 'String' });
    expect(ctx.stack.fromSsm('authorizer')).toMatchObject({ UPSTASH_REDIS_REST_TOKEN: '', UPSTASH_REDIS_REST_TOKEN_PARAMETER: '/wechat-login/dev/upstash-redis-rest-token' });
  });
});

describe('declarationsOf', () => {
  const table = (name: unknown) => ({ Type: 'AWS::DynamoDB::Table', Properties: { TableName: name, KeySchema: [], AttributeDefinitions: [] } });

  it('refuses a table without a name it can use, saying how to name it', () => {
    expect(() => declarationsOf({ service: 's', resources: { Resources: { OrdersTable: table({ Ref: 'AWS::StackName' }) } } }, 'dev')).toThrow('table OrdersTable has no TableName the local stack can use: name it `${self:service}-${sls:stage}-<name>`');
  });

  it('reads resources given as a list of sections, as serverless.yml gives them', () => {
    const declarations = declarationsOf({ service: 's', resources: [{ Resources: { A: table('s-dev-a') } }, { Resources: { B: table('s-dev-b') } }], functions: { f: { environment: { A_TABLE: 's-dev-a', X_PARAMETER: '/s/dev/x' } } } }, 'dev');
    expect(declarations.tables.map((t) => t.name)).toEqual(['s-dev-a', 's-dev-b']);
    expect(declarations.tableVariables).toEqual({ f: { A_TABLE: 's-dev-a' } });
    expect(declarations.parameterVariables).toEqual({ f: { X: '/s/dev/x' } });
  });
});
