import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const { loadRoutes } = createRequire(import.meta.url)('../../deploy/routes.cjs') as {
  loadRoutes: (dir?: string) => { functions: Record<string, unknown>; resources: Record<string, Record<string, unknown>> };
};

/** deploy/routes.cjs: what serverless.yml takes as its functions and the routes' own resources. */
describe('Module: deploy/routes.cjs', () => {
  const dirs: string[] = [];
  const routes = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'routes-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const table = (id: string) => `resources:\n  Resources:\n    ${id}:\n      Type: AWS::DynamoDB::Table\n      Properties:\n        TableName: !Sub '\${AWS::StackName}-x'\n`;

  it('takes every shipped route file: each function once, and the routes’ own resources', () => {
    const { functions, resources } = loadRoutes();
    expect(Object.keys(functions).sort()).toEqual(['admin', 'authorizer', 'avatar', 'deleteAccount', 'exportAccount', 'hello', 'login', 'logout', 'me', 'opendata', 'phone', 'profile', 'sessions', 'wechatEvents']);
    expect(Object.keys(resources.Resources!)).toEqual(['LoginKeepWarmRule', 'LoginKeepWarmPermission']);
  });

  it('merges the files of a folder, CloudFormation tags included', () => {
    const dir = routes({ 'orders.yml': `functions:\n  orders:\n    handler: functions/orders.handler\n${table('OrdersTable')}` });
    const { functions, resources } = loadRoutes(dir);
    expect(functions).toEqual({ orders: { handler: 'functions/orders.handler' } });
    expect(resources.Resources).toEqual({ OrdersTable: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: { 'Fn::Sub': '${AWS::StackName}-x' } } } });
  });

  it('refuses a name two route files declare, naming both', () => {
    const dir = routes({ 'a.yml': table('OrdersTable'), 'b.yml': table('OrdersTable') });
    expect(() => loadRoutes(dir)).toThrow('deploy/routes: resource OrdersTable is declared in both a.yml and b.yml; rename one');
  });

  it('refuses a resource that would replace a shared one or one the framework generates', () => {
    expect(() => loadRoutes(routes({ 'a.yml': table('UsersTable') }))).toThrow('deploy/routes/a.yml: UsersTable is already declared in deploy/resources/tables.yml; give yours another name');
    expect(() => loadRoutes(routes({ 'a.yml': table('LoginLambdaFunction') }))).toThrow('LoginLambdaFunction is a name the framework gives what it generates');
    expect(() => loadRoutes(routes({ 'a.yml': table('HttpApi') }))).toThrow('HttpApi is a name the framework gives what it generates');
  });

  it('refuses a top-level key or a resources section it does not take', () => {
    expect(() => loadRoutes(routes({ 'a.yml': 'provider:\n  memorySize: 1\n' }))).toThrow('deploy/routes/a.yml: unknown top-level key(s) provider');
    expect(() => loadRoutes(routes({ 'a.yml': 'resources:\n  Parameters:\n    X:\n      Type: String\n' }))).toThrow('resources.Parameters is not taken here');
  });
});
