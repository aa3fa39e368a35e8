'use strict';
/**
 * Build settings that differ for `serverless invoke local` (serverless.yml: custom.esbuild),
 * read by osls as a JS file variable: `${file(./deploy/invoke-local.cjs):outputFileExtension}`.
 *
 * - outputFileExtension: `.mjs` everywhere else, as Lambda treats it as ESM without a
 *   package.json in the zip. osls's invoke local loads a handler with require() of its path
 *   without an extension (then `.cjs`), so it finds a `.js` bundle only (this repo's
 *   package.json has "type": "module": the same bundle still loads as ESM). A `.js` bundle also
 *   goes without the init-at-load footer (deploy/esbuild-plugins.cjs), as require() refuses a
 *   module with top-level await.
 * - skipRebuild: serverless-esbuild builds through an esbuild context, which keeps esbuild's
 *   service process (and so the CLI) alive until the context is disposed, and it disposes it
 *   only after a successful invocation: a handler that failed to load left
 *   `serverless invoke local` hanging after its error. It builds once, so a plain build.
 * - outputWorkFolder: a folder apart from `.esbuild`, which `serverless package` zips from
 *   without emptying it first: a `functions/login.js` left there would ride along in login.zip.
 *   (`npm run dev` and `npm run invoke:local` name a private one in ESBUILD_WORK_FOLDER.)
 */
const args = process.argv.slice(2);
// The command is the words before the first option, as osls reads it (lib/cli/resolve-input.js).
const firstOption = args.findIndex((arg) => arg.startsWith('-'));
const command = args.slice(0, firstOption === -1 ? undefined : firstOption).join(' ');
const invokeLocal = command === 'invoke local';

module.exports = {
  outputFileExtension: invokeLocal ? '.js' : '.mjs',
  skipRebuild: invokeLocal,
  outputWorkFolder: invokeLocal ? '.esbuild-local/invoke-local' : '.esbuild',
};
