import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_PATTERN } from '../../lib/crypto';
import { packageFunctions, type FunctionName } from '../../local/package-functions';
import { useLocalStack } from '../support/local';

/** The Node major version of the runtime serverless.yml deploys to (nodejs22.x → 22). */
const runtimeMajor = Number(/^\s*runtime:\s*nodejs(\d+)\.x/m.exec(readFileSync('serverless.yml', 'utf8'))?.[1]);

/**
 * The Node to run the bundles with: LAMBDA_NODE (CI installs the runtime's version from npm,
 * see .ci/run), else this Node if it is that version. Elsewhere the test is skipped.
 */
function lambdaNode(): string | undefined {
  if (process.env.LAMBDA_NODE) return process.env.LAMBDA_NODE;
  return Number(process.versions.node.split('.')[0]) === runtimeMajor ? process.execPath : undefined;
}
const node = lambdaNode();
// Said once, where the run's report shows it, as the cfn-lint test does: a skip never passes silently.
if (!node) {
  const binary = `node-${process.platform}-${process.arch}`;
  console.warn(
    `SKIPPED the deployable bundles on Node ${runtimeMajor}, Lambda's runtime: this is Node ${process.versions.node} and LAMBDA_NODE is not set ` +
      `(npm i --prefix /tmp/lambda-node --no-save ${binary}@${runtimeMajor}, then LAMBDA_NODE=/tmp/lambda-node/node_modules/${binary}/bin/node; docs/development.md, Tests)`,
  );
}

/**
 * The bundles `serverless package` builds, run by the Node version of the Lambda runtime they
 * deploy to (the rest of the suite runs from source on this machine's Node): a login, the
 * authorizer, /user/me, logout, and the revoked token refused, against the local stack.
 */
describe.skipIf(!node)(`The deployable bundles on Node ${runtimeMajor}, Lambda's runtime (integration)`, () => {
  const ctx = useLocalStack();
  // Made in beforeAll, not here: a skipped suite's body still runs, and would leave it behind.
  let work: string | undefined;
  let bundles: Record<FunctionName, string>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'wxlogin-runtime-'));
    bundles = await packageFunctions(process.cwd(), work, ctx.env, 'runtime');
  }, 120_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /**
   * Runs Lambda's Node with `args` against the local stack (its environment changed by `env`);
   * expects exit 0 and a JSON last line.
   */
  async function onLambdaNode(args: string[], env: Record<string, string> = {}): Promise<{ output: string; last: any }> {
    const child = spawn(node!, args, { env: { ...process.env, ...ctx.env, LOG_LEVEL: 'error', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, output).toBe(0);
    return { output, last: JSON.parse(output.trim().split('\n').at(-1)!) };
  }

  it(`is Node ${runtimeMajor} that runs them`, () => {
    const version = execFileSync(node!, ['--version'], { encoding: 'utf8' }).trim();
    expect(version).toMatch(new RegExp(`^v${runtimeMajor}\\.`));
  });

  it('logs in, authorizes, answers /user/me, logs out and then refuses the token', async () => {
    const { output, last } = await onLambdaNode([join('test', 'support', 'lambda-runtime-driver.mjs'), JSON.stringify(bundles), 'runtime.1']);
    const report = last;
    expect(report.node).toMatch(new RegExp(`^v${runtimeMajor}\\.`));
    expect(report.login.statusCode).toBe(200);
    const login = JSON.parse(report.login.body);
    expect(login).toMatchObject({ token: expect.stringMatching(TOKEN_PATTERN), isNewUser: true });
    expect(report.authorize).toMatchObject({ isAuthorized: true, context: { userId: login.userId } });
    expect(report.me.statusCode).toBe(200);
    expect(JSON.parse(report.me.body)).toMatchObject({ userId: login.userId, loginCount: 1 });
    expect(report.logout.statusCode).toBe(204);
    expect(report.authorizeAfterLogout).toMatchObject({ isAuthorized: false });
    expect(report.badRequest.statusCode).toBe(400);
    expect(JSON.parse(report.badRequest.body)).toMatchObject({ error: { code: 'INVALID_REQUEST' } });
    // The SDK warns on Node < 22; on the runtime's Node it has nothing to say.
    expect(output).not.toContain('NodeVersionSupportWarning');
  });

  it('loads no builtin the login does not use: with AWS\'s endpoints, under Lambda\'s V8 flags, its initialisation (a rehearsed login) leaves node:zlib and node:fs/promises unloaded', async () => {
    // Lambda's V8 flags make Node compile each builtin it loads from source (no code cache),
    // so a builtin loaded for nothing is a cold start's CPU spent for nothing
    // (deploy/esbuild-plugins.cjs, lambda-substitutes; lib/adapters/dynamodb.ts).
    const script = `
      const before = new Set(process.moduleLoadList);
      const { handler } = await import(process.argv[1]);
      const ping = await handler({ warmPing: true }, { awsRequestId: 'runtime' });
      const loaded = process.moduleLoadList.filter((name) => !before.has(name) && name.startsWith('NativeModule ')).map((name) => name.slice(13));
      console.log(JSON.stringify({ ping, loaded }));`;
    // The endpoints of AWS, not the local stack's DynamoDB: the SDK resolves the region's endpoint
    // as deployed. (Nothing is sent there: the rehearsal answers from its recording, and the
    // connection it opens fails here or in time.)
    const { output, last } = await onLambdaNode(['--expose-gc', '--max-semi-space-size=25', '--max-old-space-size=461', '--input-type=module', '-e', script, bundles.login], {
      DYNAMODB_ENDPOINT: '',
      AWS_REGION: 'ap-east-1',
    });
    const { ping, loaded } = last;
    expect(ping).toEqual({ warm: true });
    expect(loaded).toEqual(expect.arrayContaining(['https', 'http', 'crypto']));
    expect(loaded).not.toContain('zlib');
    expect(loaded).not.toContain('fs/promises');
    expect(output).not.toContain('priming failed');
  }, 30_000);

  it('loads every bundle, each awaiting its initialisation at load, and answers a warm ping from each', async () => {
    const script = `
      const out = {};
      for (const [name, path] of Object.entries(JSON.parse(process.argv[1]))) {
        const { handler } = await import(path);
        out[name] = typeof handler === 'function' ? await handler({ warmPing: true }, { awsRequestId: 'runtime' }) : 'no handler';
      }
      console.log(JSON.stringify(out));`;
    const { last: answers } = await onLambdaNode(['--input-type=module', '-e', script, JSON.stringify(bundles)]);
    expect(Object.keys(answers).sort()).toEqual(Object.keys(bundles).sort());
    for (const [name, answer] of Object.entries(answers)) expect(answer, name).toEqual({ warm: true });
  }, 60_000);
});
