import { readdirSync, readFileSync } from 'node:fs';
import { withAppParameters } from '../../lib/apps';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * A snippet in the docs that shows a real file says so on its first line (`// functions/hello.ts`,
 * `# serverless.yml, under functions:`); what follows must be in that file, verbatim, so the
 * docs show what the tests compile and run.
 */
const root = join(import.meta.dirname, '..', '..');
const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const MARKER = /^(?:\/\/|#) ((?:functions|lib|local|client|scripts|bench|deploy|examples)\/[\w./-]+\.\w+|serverless\.yml)(?:,.*)?$/;

function snippets(doc: string): { file: string; body: string; line: number }[] {
  const text = readFileSync(join(root, doc), 'utf8');
  const out: { file: string; body: string; line: number }[] = [];
  const fence = /^```\w*\n([\s\S]*?)^```$/gm;
  for (const match of text.matchAll(fence)) {
    const [first, ...rest] = match[1]!.split('\n');
    const marker = MARKER.exec(first!);
    // A file the reader creates (docs/development.md, "Add a route with a table of your own") is
    // not in the repository: test/integration/add-a-route.test.ts writes and runs those.
    if (marker && !first!.endsWith(', a new file')) out.push({ file: marker[1]!, body: rest.join('\n'), line: text.slice(0, match.index).split('\n').length });
  }
  return out;
}

describe('Docs: snippets that show a file', () => {
  const all = docs.flatMap((doc) => snippets(doc).map((s) => ({ doc, ...s })));

  it('finds the snippets it checks (the example route and its file in deploy/routes/)', () => {
    expect(all.map((s) => s.file)).toEqual(expect.arrayContaining(['functions/hello.ts', 'deploy/routes/hello.yml']));
  });

  it.each(all.map((s) => [`${s.doc}:${s.line} (${s.file})`, s] as const))('%s is in the file, verbatim', (_name, { file, body }) => {
    expect(readFileSync(join(root, file), 'utf8')).toContain(body);
  });
});

describe('Docs: docs/deploy.md\'s SSM parameters', () => {
  // Every `${param:parameterPath}/NAME` the template hands a function (serverless.yml, or a file
  // under deploy/ it includes), as the configuration table describes it.
  const templateFiles = ['serverless.yml', ...readdirSync(join(root, 'deploy'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ya?ml|json)$/.test(f)).map((f) => `deploy/${f}`)];
  // `apps` is a folder: each extra app's AppSecret is under it (lib/apps.ts), checked below.
  const named = new Set(templateFiles.flatMap((f) => [...readFileSync(join(root, f), 'utf8').matchAll(/\$\{param:parameterPath\}\/([\w-]+)/g)].map((m) => m[1]!)).filter((name) => name !== 'apps'));
  const deployDoc = readFileSync(join(root, 'docs', 'deploy.md'), 'utf8');
  const commands = new Map([...deployDoc.matchAll(/^aws ssm put-parameter --name \/wechat-login\/prod\/([\w-]+) --type (String|SecureString) --value \S+$/gm)].map((m) => [m[1]!, m[2]!]));
  const secure = new Set([...deployDoc.matchAll(/\*SSM\* `\/wechat-login\/<stage>\/([\w-]+)` \(SecureString\)/g)].map((m) => m[1]!));

  it('finds the parameters the template reads (the AppID, the AppSecret, Upstash, the push Token and key)', () => {
    expect([...named]).toEqual(expect.arrayContaining(['wechat-appid', 'wechat-secret', 'upstash-redis-rest-token', 'wechat-push-token', 'wechat-push-aes-key']));
  });

  it('stores an extra app’s own settings where the functions read them: <parameterPath>/apps/<appid>/<name>, SecureStrings', () => {
    const commands = [...deployDoc.matchAll(/^aws ssm put-parameter --name \/wechat-login\/prod\/apps\/(wx\w+)\/([\w-]+) --type SecureString --value \S+$/gm)];
    expect(commands.map((command) => command[2]).sort()).toEqual(['wechat-push-aes-key', 'wechat-push-token', 'wechat-secret']);
    for (const [line, appId, name] of commands) {
      const env = withAppParameters({ WECHAT_APPS: appId!, WECHAT_APP_PARAMETERS: '/wechat-login/prod/apps', WECHAT_APP_SETTINGS: name! });
      const setting = { 'wechat-secret': 'WECHAT_SECRET', 'wechat-push-token': 'WECHAT_PUSH_TOKEN', 'wechat-push-aes-key': 'WECHAT_PUSH_AES_KEY' }[name!];
      expect(env[`${setting}_${appId}_PARAMETER`]).toBe(line.split(' ')[4]);
    }
  });

  it('stores each of them in the deploy steps, a SecureString where the table says so, and nothing else', () => {
    expect([...commands.keys()].sort()).toEqual([...named].sort());
    for (const [name, type] of commands) expect(type, name).toBe(secure.has(name) ? 'SecureString' : 'String');
  });
});
