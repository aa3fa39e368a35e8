import { execFileSync, spawnSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The release before identities (issue 22): what the upgrade test runs on the local stack before
 * this release (test/integration/upgrade.test.ts), and what `npm run bench`'s baseline section
 * compares the login with (bench/sections/baseline.ts). A commit of this repository.
 */
export const PREVIOUS_RELEASE = '599e9821e5b703ae40aaa39e2ec57eb17fb9408d';

const root = resolve(import.meta.dirname, '..');

/** Whether this clone holds the commit (a shallow clone may not). */
export function hasRelease(rev: string = PREVIOUS_RELEASE): boolean {
  return spawnSync('git', ['cat-file', '-e', `${rev}^{commit}`], { cwd: root }).status === 0;
}

/**
 * Writes the release's `functions/` and `lib/` into `folder`, over this checkout's dependencies
 * (node_modules linked): its handlers can be imported, or built, as they were.
 */
export function extractRelease(folder: string, rev: string = PREVIOUS_RELEASE): string {
  const archive = execFileSync('git', ['archive', '--format=tar', rev, 'functions', 'lib'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', folder], { input: archive });
  symlinkSync(join(root, 'node_modules'), join(folder, 'node_modules'));
  return folder;
}
