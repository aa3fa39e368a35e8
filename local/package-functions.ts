import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import JSZip from 'jszip';
import { SERVERLESS_BIN } from './serverless-cli';

export const FUNCTIONS = ['login', 'authorizer', 'me', 'logout'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/**
 * Builds the functions as a deploy does (`serverless package`, offline) and unpacks each
 * function's bundle from its deployment zip into `outDir`: the exact files Lambda would run.
 * `env` stands in for the settings serverless.yml reads at package time.
 */
export async function packageFunctions(root: string, outDir: string, env: Record<string, string>, stage = 'package'): Promise<Record<FunctionName, string>> {
  const artifacts = join(outDir, 'artifacts');
  const workFolder = join('.esbuild-local', `package-${process.pid}-${Date.now()}`);
  try {
    execFileSync(process.execPath, [SERVERLESS_BIN, 'package', '--stage', stage, '--package', artifacts], {
      cwd: root,
      env: { ...process.env, ...env, ESBUILD_WORK_FOLDER: workFolder },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  } finally {
    rmSync(join(root, workFolder), { recursive: true, force: true });
  }
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
