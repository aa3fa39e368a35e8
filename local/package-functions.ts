import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import JSZip from 'jszip';
import { SERVERLESS_BIN } from './serverless-cli';

export const FUNCTIONS = ['login', 'authorizer', 'me', 'logout', 'phone', 'avatar', 'profile'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/**
 * `serverless package` (offline) into `artifacts`, with exactly the environment `env` and any
 * further CLI arguments in `args` (e.g. `--param=name=value`), building in a work folder of its
 * own that is removed afterwards.
 *
 * One at a time per checkout, across processes (test files, `npm run bench`): whatever
 * `--package` says, every run first deletes `<service>/.serverless` and last writes its state
 * file there, so two runs side by side can fail each other with ENOENT.
 */
export async function packageService(root: string, artifacts: string, env: NodeJS.ProcessEnv, stage: string, args: string[] = []): Promise<void> {
  const workFolder = join('.esbuild-local', `package-${process.pid}-${Date.now()}`);
  const unlock = await lock(join(root, '.esbuild-local', 'package.lock'));
  try {
    await promisify(execFile)(process.execPath, [SERVERLESS_BIN, 'package', '--stage', stage, '--package', artifacts, ...args], {
      cwd: root,
      env: { ...env, ESBUILD_WORK_FOLDER: workFolder },
    });
  } finally {
    unlock();
    rmSync(join(root, workFolder), { recursive: true, force: true });
  }
}

/**
 * A lock between processes: a directory (mkdir is atomic) holding its owner's pid. A lock
 * whose owner is gone (killed mid-run) is taken over.
 */
async function lock(path: string, timeoutMs = 180_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  mkdirSync(dirname(path), { recursive: true });
  for (;;) {
    try {
      mkdirSync(path);
      writeFileSync(join(path, 'pid'), String(process.pid));
      return () => rmSync(path, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!ownerAlive(path)) rmSync(path, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`${path} is still held after ${timeoutMs} ms`);
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function ownerAlive(path: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(path, 'pid'), 'utf8'));
  } catch {
    return true; // just created, its pid not written yet
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
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
