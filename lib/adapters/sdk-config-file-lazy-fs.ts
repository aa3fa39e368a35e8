/**
 * Stands in for the file reader of @smithy/core's shared-ini-file-loader (the module that reads
 * ~/.aws/config and ~/.aws/credentials) in the bundles (deploy/esbuild-plugins.cjs,
 * lambda-substitutes). The SDK's module imports node:fs/promises as it loads; with every
 * setting given to the DynamoDB client (lib/adapters/dynamodb.ts) no file is ever read, yet
 * under Lambda's V8 flags loading that builtin costs ~2.5 ms of a cold start's CPU. This is the
 * same module (the same exports, the same cache and test hook), taking node:fs/promises only
 * when a file is read.
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
