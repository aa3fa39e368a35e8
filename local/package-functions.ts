import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import JSZip from 'jszip';
import { SERVERLESS_BIN } from './serverless-cli';

/**
 * The functions this project ships, by their names in serverless.yml: the bench and the tests
 * drive them by name, so `packageFunctions` fails, naming it, when one is missing from the
 * template. A function you add (a route of your own) needs no entry here: it is packaged,
 * and measured by the bench, like the others.
 */
export const FUNCTIONS = ['login', 'authorizer', 'me', 'hello', 'logout', 'phone', 'avatar', 'profile', 'deleteAccount', 'exportAccount', 'wechatEvents', 'sessions', 'admin', 'opendata'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/**
 * What a private service folder leaves out of the checkout: what serverless and serverless-esbuild
 * write (the checkout's own, which a developer may be reviewing) and what packaging never reads.
 */
const LEFT_OUT = new Set(['.serverless', '.esbuild', '.esbuild-local', '.git']);

/**
 * `serverless package` (offline) into `artifacts`, with exactly the environment `env` and any
 * further CLI arguments in `args` (e.g. `--param=name=value`).
 *
 * Whatever `--package` says, osls first deletes `<service>/.serverless`, builds there and last
 * writes its state file there, and serverless-esbuild builds in `<service>/.esbuild`. So the run
 * packages a private service folder under the system's temp folder, holding a copy of each file
 * of `root` (serverless.yml, package.json, …) and a symlink to each folder (sources,
 * node_modules, …), removed afterwards: the checkout's `.serverless/` (what
 * `npx serverless package` left for review) and `.esbuild/` stay as they were, and runs side by
 * side (test files, `npm run bench`) never meet.
 */
export async function packageService(root: string, artifacts: string, env: NodeJS.ProcessEnv, stage: string, args: string[] = []): Promise<void> {
  const service = mkdtempSync(join(tmpdir(), 'wechat-login-package-'));
  try {
    for (const entry of readdirSync(root, { withFileTypes: true })) {
      if (LEFT_OUT.has(entry.name)) continue;
      const from = resolve(root, entry.name);
      // Files are copied: osls looks for serverless.yml with lstat, which a symlink fails.
      if (entry.isFile()) copyFileSync(from, join(service, entry.name));
      else symlinkSync(from, join(service, entry.name));
    }
    // Neither the checkout's work folder nor a dev run's: serverless.yml's default, inside `service`.
    const { ESBUILD_WORK_FOLDER: _, ...rest } = env;
    await promisify(execFile)(process.execPath, [SERVERLESS_BIN, 'package', '--stage', stage, '--package', resolve(artifacts), ...args], {
      cwd: service,
      env: rest,
    });
  } finally {
    rmSync(service, { recursive: true, force: true });
  }
}

/**
 * Each function of the packaged template: its name in serverless.yml (the zip is `<name>.zip`)
 * and its handler's file (`functions/delete-account` for deleteAccount).
 */
function packagedFunctions(artifacts: string): Map<string, string> {
  const template = JSON.parse(readFileSync(join(artifacts, 'cloudformation-template-update-stack.json'), 'utf8'));
  const functions = new Map<string, string>();
  for (const resource of Object.values<{ Type: string; Properties: { Handler: string; Code: { S3Key: unknown } } }>(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const zip = /([^/]+)\.zip$/.exec(String(resource.Properties.Code.S3Key))?.[1];
    const file = /^(.+)\.[^.]+$/.exec(resource.Properties.Handler)?.[1];
    if (zip && file) functions.set(zip, file);
  }
  return functions;
}

/**
 * Builds the functions as a deploy does and unpacks each function's bundle from its
 * deployment zip into `outDir`: the exact files Lambda would run. `env` stands in for the
 * settings serverless.yml reads at package time.
 */
export async function packageFunctions(root: string, outDir: string, env: Record<string, string>, stage = 'package'): Promise<Record<FunctionName, string> & Record<string, string>> {
  const artifacts = join(outDir, 'artifacts');
  await packageService(root, artifacts, { ...process.env, ...env }, stage);
  const packaged = packagedFunctions(artifacts);
  const missing = FUNCTIONS.filter((name) => !packaged.has(name));
  if (missing.length) {
    throw new Error(`local/package-functions.ts FUNCTIONS names functions serverless.yml does not declare: ${missing.join(', ')}`);
  }
  const bundles = {} as Record<FunctionName, string> & Record<string, string>;
  for (const name of [...FUNCTIONS, ...[...packaged.keys()].filter((name) => !(FUNCTIONS as readonly string[]).includes(name))]) {
    const file = `${packaged.get(name)}.mjs`;
    const zip = await JSZip.loadAsync(readFileSync(join(artifacts, `${name}.zip`)));
    const entry = zip.file(file);
    if (!entry) throw new Error(`${name}.zip has no ${file}`);
    const path = join(outDir, name, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, await entry.async('nodebuffer'));
    bundles[name] = path;
  }
  return bundles;
}
