'use strict';
/**
 * esbuild plugins for the Lambda bundles (serverless.yml: custom.esbuild.plugins). CommonJS
 * because serverless-esbuild loads this file with require().
 *
 * builtins-via-require: the bundles are ES modules, and esbuild keeps `import … from
 * 'node:http'` as an ES import. For that, Node 22 (the Lambda runtime) builds the builtin's
 * module namespace by reading every one of its exports, and some exports are lazy getters:
 * node:http's WebSocket loads all of undici. That is ~20 ms of every cold start spent on code
 * no function uses (`npm run bench` with BENCH_NODE set to a Node 22). require() hands over the
 * exports object and reads nothing, so each ES import of a builtin is pointed at a one-line
 * CommonJS module that requires it; esbuild's interop then reads only what the code uses.
 */
const { builtinModules } = require('node:module');
const { dirname, extname, join } = require('node:path');

const escape = (name) => name.replace(/[/\\^$.*+?()[\]{}|-]/g, '\\$&');
const BUILTIN = new RegExp(`^(node:)?(${builtinModules.map(escape).join('|')})$`);
const NAMESPACE = 'builtin-via-require';

const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(build) {
    build.onResolve({ filter: BUILTIN }, (args) => {
      // require() calls (the shims' own, and CommonJS dependencies') stay as they are.
      if (args.kind !== 'import-statement' && args.kind !== 'dynamic-import') return undefined;
      return { path: args.path.replace(/^node:/, ''), namespace: NAMESPACE };
    });
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`node:${args.path}`)});`,
      loader: 'js',
    }));
  },
};

/**
 * lambda-substitutes: parts of the SDK's dependencies replaced in the bundles by what Lambda needs.
 * - `@aws-sdk/credential-provider-node`: Lambda gives credentials in the environment, so the
 *   environment provider alone instead of the SDK's whole default chain
 *   (lib/adapters/lambda-credentials.ts says why).
 * - `mnemonist/lru-cache`: the DynamoDB client's endpoint-discovery cache (discovery is off) on a
 *   40-line LRU instead of mnemonist's: ~6 KB less in each bundle with DynamoDB
 *   (lib/adapters/endpoint-cache-lru.ts).
 * - Two modules of @smithy/core that load a Node builtin as they load, for work a function here
 *   never does: `Crc32Node` (node:zlib, for event streams) and the config-file reader
 *   (node:fs/promises). Under Lambda's V8 flags every builtin loaded is compiled from source,
 *   so each is the same module taking its builtin on first use
 *   (lib/adapters/sdk-crc32-lazy-zlib.ts, lib/adapters/sdk-config-file-lazy-fs.ts).
 * A plugin rather than serverless.yml's `alias`, so that what the bench builds by itself
 * (bench/shared.ts, buildLikeDeploy) is built the same way.
 */
const adapter = (file) => join(__dirname, '..', 'lib', 'adapters', file);
const SUBSTITUTES = {
  '@aws-sdk/credential-provider-node': adapter('lambda-credentials.ts'),
  'mnemonist/lru-cache': adapter('endpoint-cache-lru.ts'),
};
/** Files inside a package, by their path under node_modules/. */
const FILE_SUBSTITUTES = [
  { file: '@smithy/core/dist-es/submodules/checksum/crc32/Crc32Node.js', by: adapter('sdk-crc32-lazy-zlib.ts') },
  { file: '@smithy/core/dist-es/submodules/config/shared-ini-file-loader/readFile.js', by: adapter('sdk-config-file-lazy-fs.ts') },
];

const lambdaSubstitutes = {
  name: 'lambda-substitutes',
  setup(build) {
    const filter = new RegExp(`^(${Object.keys(SUBSTITUTES).map(escape).join('|')})$`);
    build.onResolve({ filter }, (args) => ({ path: SUBSTITUTES[args.path] }));
    for (const { file, by } of FILE_SUBSTITUTES) {
      const path = new RegExp(`[\\\\/]node_modules[\\\\/]${file.split('/').map(escape).join('[\\\\/]')}$`);
      build.onLoad({ filter: path }, () => ({ contents: `export * from ${JSON.stringify(by)};`, loader: 'js', resolveDir: dirname(by) }));
    }
  },
};

/**
 * init-at-load: appends to each bundle an `await` of the function's initialisation (secrets,
 * clients, priming; lib/runtime.ts AWAIT_AT_LOAD). Lambda's init phase ends when the handler's
 * module has loaded, top-level await included, and an on-demand function's init phase runs at
 * a full vCPU: awaited there, that work no longer runs in the first request at the memory's
 * share of a vCPU. Not for a `.js` bundle, which only `serverless invoke local` builds
 * (deploy/invoke-local.cjs): it loads a handler with require(), which refuses a module with
 * top-level await.
 */
const AWAIT_INIT = 'await Promise.all(globalThis[Symbol.for("wechat-login.await-at-load")] ?? []);';

const initAtLoad = {
  name: 'init-at-load',
  setup(build) {
    const { format, outfile, outExtension } = build.initialOptions;
    const extension = outfile ? extname(outfile) : (outExtension?.['.js'] ?? '.js');
    if (format !== 'esm' || extension === '.js') return;
    const footer = build.initialOptions.footer ?? {};
    build.initialOptions.footer = { ...footer, js: [footer.js, AWAIT_INIT].filter(Boolean).join('\n') };
  },
};

module.exports = [lambdaSubstitutes, builtinsViaRequire, initAtLoad];
