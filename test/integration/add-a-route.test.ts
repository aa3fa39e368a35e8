import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageService } from '../../local/package-functions';
import { functionRuleViolations, roleOf, statementsOf, tableRuleViolations, type Template } from '../support/template-rules';

/**
 * docs/development.md, "Add a route with a table of your own", applied as a new user would: its
 * snippets marked ", a new file" are written into a scratch copy of the repository, nothing
 * else is edited, and the scratch copy's template checks and its own test (one request through
 * its `npm run dev`) must pass there.
 */
const root = process.cwd();
const SECTION = '## Add a route with a table of your own';

function newFiles(): { file: string; body: string }[] {
  const doc = readFileSync(join(root, 'docs', 'development.md'), 'utf8');
  const start = doc.indexOf(SECTION);
  const section = doc.slice(start, doc.indexOf('\n## ', start + SECTION.length));
  const files: { file: string; body: string }[] = [];
  for (const match of section.matchAll(/^```\w*\n([\s\S]*?)^```$/gm)) {
    const [first, ...rest] = match[1]!.split('\n');
    const marker = /^(?:\/\/|#) ([\w./-]+), a new file$/.exec(first!);
    if (marker) files.push({ file: marker[1]!, body: rest.join('\n') });
  }
  return files;
}

describe('Adding a route with a table of its own, as docs/development.md says (integration)', () => {
  const files = newFiles();
  const scratch = mkdtempSync(join(tmpdir(), 'wechat-login-add-a-route-'));
  let template: Template;
  let ownTest: { code: number; output: string };
  let typecheck: { code: number; output: string };

  beforeAll(async () => {
    // The checkout as a new user has it, dependencies shared: everything but node_modules is copied.
    cpSync(root, scratch, {
      recursive: true,
      filter: (from) => !/[/\\](node_modules|\.git|\.esbuild|\.esbuild-local|\.serverless|\.local)$/.test(from),
    });
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
    for (const { file, body } of files) {
      expect(existsSync(join(scratch, file)), `${file} is a new file`).toBe(false);
      writeFileSync(join(scratch, file), body);
    }
    // Side by side: the package for the template's rules, and the new test through npm run dev.
    const artifacts = join(scratch, '.package');
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_')));
    const run = (script: string, args: string[]) =>
      promisify(execFile)(process.execPath, [join(root, 'node_modules', script), ...args], { cwd: scratch, env: { ...process.env, CI: '1' } }).then(
        ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
        (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
      );
    // npm test is `tsc -p . && vitest run`: the new files must typecheck as the rest does.
    [, ownTest, typecheck] = await Promise.all([
      packageService(scratch, artifacts, env, 'prod'),
      run('vitest/vitest.mjs', ['run', 'test/integration/orders.test.ts']),
      run('typescript/bin/tsc', ['-p', '.']),
    ]);
    template = JSON.parse(readFileSync(join(artifacts, 'cloudformation-template-update-stack.json'), 'utf8'));
  }, 240_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('takes four new files: the deploy file, the module, the function and its test', () => {
    expect(files.map(({ file }) => file).sort()).toEqual(['deploy/routes/orders.yml', 'functions/orders.ts', 'lib/orders.ts', 'test/integration/orders.test.ts']);
    for (const { file } of files) expect(dirname(file)).not.toMatch(/^local|^serverless/);
  });

  it('packages the route, its table and its own role, and the template keeps every rule', () => {
    const routes = Object.values(template.Resources).filter((r: any) => r.Type === 'AWS::ApiGatewayV2::Route').map((r: any) => r.Properties.RouteKey);
    expect(routes).toContain('GET /user/orders');
    expect(template.Resources.OrdersTable?.Properties.TableName).toBe('wechat-login-prod-orders');
    expect(functionRuleViolations(template, { retentionInDays: 90, tracing: true })).toEqual([]);
    expect(tableRuleViolations(template, { prefix: 'wechat-login-prod-' })).toEqual([]);
    // Its role: what its file names, with its log group and X-Ray added when the template was built.
    const role = roleOf(template, 'OrdersLambdaFunction');
    const granted = statementsOf(template, role).map((s: any) => [s.Action].flat().join(','));
    expect(granted).toEqual(['logs:CreateLogStream,logs:CreateLogGroup,logs:PutLogEvents', 'xray:PutTraceSegments,xray:PutTelemetryRecords', 'dynamodb:Query']);
    expect(template.Resources.OrdersLambdaFunction.Properties.Environment.Variables).toMatchObject({ ORDERS_TABLE: 'wechat-login-prod-orders' });
  });

  it('typechecks with the rest, as npm test does first', () => {
    expect(typecheck.code, typecheck.output).toBe(0);
  });

  it('passes its own test, one request through the scratch copy’s npm run dev and its local stack', () => {
    expect(ownTest.code, ownTest.output).toBe(0);
    expect(ownTest.output).toMatch(/1 passed/);
  });
});
