/**
 * Stands in for the file reader of @smithy/core's shared-ini-file-loader (the module that reads
 * ~/.aws/config and ~/.aws/credentials) in the bundles (deploy/esbuild-plugins.cjs,
 * lambda-substitutes). The SDK's module imports node:fs/promises as it loads; with every
 * setting given to the DynamoDB client (lib/adapters/dynamodb.ts) no file is ever read, yet
 * under Lambda's V8 flags loading that builtin costs ~2.5 ms of a cold start's CPU. This is the
 * same module (the same exports, the same cache and test hook), taking node:fs/promises only
 * when a file is read.
 *
 * Its figure (2026-12-05, `BENCH_NODE=<node 22> npm run bench -- --only lazy-builtins`, Node
 * 22.23.5 under Lambda's flags): a DynamoDB client's import with the SDK's own readFile over
 * this, round by round, median +4.18 and +3.89 ms (dearer in 31 and 26 of 41 rounds), in two runs; with both SDK
 * modules put back, +7.32 and +6.33 ms (33 and 28 of 41). It stays on that joint figure.
 */
type FsPromises = typeof import('node:fs/promises');

export const filePromises: Record<string, Promise<string>> = {};
export const fileIntercept: Record<string, Promise<string>> = {};

export const readFile = (path: string, options?: { ignoreCache?: boolean }): Promise<string> => {
  if (fileIntercept[path] !== undefined) return fileIntercept[path];
  if (!filePromises[path] || options?.ignoreCache) {
    filePromises[path] = (process.getBuiltinModule('node:fs/promises') as FsPromises).readFile(path, 'utf8');
  }
  return filePromises[path];
};
