import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import JSZip from 'jszip';
import { SERVERLESS_BIN } from './serverless-cli';

export const FUNCTIONS = ['login', 'authorizer', 'me', 'logout', 'phone', 'avatar', 'profile'] as const;
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
 * Builds the functions as a deploy does and unpacks each function's bundle from its
 * deployment zip into `outDir`: the exact files Lambda would run. `env` stands in for the
 * settings serverless.yml reads at package time.
 */
export async function packageFunctions(root: string, outDir: string, env: Record<string, string>, stage = 'package'): Promise<Record<FunctionName, string>> {
  const artifacts = join(outDir, 'artifacts');
  await packageService(root, artifacts, { ...process.env, ...env }, stage);
  const bundles = {} as Record<FunctionName, string>;
  for (const name of FUNCTIONS) {
    const zip = await JSZip.loadAsync(readFileSync(join(artifacts, `${name}.zip`)));
    const entry = zip.file(`functions/${name}.mjs`);
    if (!entry) throw new Error(`${name}.zip has no functions/${name}.mjs`);
    const path = join(outDir, name, 'functions', `${name}.mjs`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, await entry.async('nodebuffer'));
    bundles[name] = path;
  }
  return bundles;
}
