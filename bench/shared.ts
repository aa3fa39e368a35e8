/**
 * What the bench's sections (bench/sections/) share: the Node and the flags every process runs
 * with, the placeholder settings of a cold import, the worker process that runs a built bundle,
 * the build of a bundle as a deploy builds it, small statistics, and the run's resources (the
 * packaged functions, the reference bundle, the local stack), each made once, when a section
 * first asks for it.
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { packageFunctions, type FunctionName } from '../local/package-functions';
import { startLocalStack, type LocalStack } from '../local/stack';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * The Node that loads and runs the bundles (cold imports, workers): this one by default;
 * BENCH_NODE=/path/to/node for another, e.g. the Lambda runtime's version (docs/development.md, Tests).
 */
export const NODE = process.env.BENCH_NODE || process.execPath;
/** The functions log as deployed (serverless.yml's logLevel): a line per login at info. */
export const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
/**
 * The Lambda memory size to emulate. Lambda's Node.js runtime sizes V8's heap from it (new
 * space a tenth of it, split in two semi-spaces; old space the rest), so the worker runs with
 * the same flags: on a big machine V8 would otherwise let the heap grow far past that.
 */
export const MEMORY_MB = Number(process.env.BENCH_MEMORY_MB ?? 128);
/**
 * The flags Lambda's Node.js runtime starts Node with (its bootstrap script): --expose-gc, a
 * larger header limit, and the heap sized from the memory. They matter to a cold start beyond
 * the heap: with any V8 flag set, Node compiles each builtin a process loads from source instead
 * of taking its built-in code cache (node:https alone is then ~25 ms of CPU on Node 22), so
 * every fresh process here, the reference bundle's included, starts with them.
 */
export const lambdaFlags = (memoryMB: number) => [
  '--expose-gc',
  '--max-http-header-size=81920',
  `--max-semi-space-size=${Math.floor(memoryMB / 10 / 2)}`,
  `--max-old-space-size=${memoryMB - Math.floor(memoryMB / 10)}`,
];
export const LAMBDA_FLAGS = lambdaFlags(MEMORY_MB);
/**
 * Logins a worker serves before anything is measured. V8 keeps compiling hot functions with
 * its optimising compiler (on helper threads) for the first couple of thousand logins; a
 * container serving a mini-program lives far longer, so the figures are the steady state,
 * and the warm-up's own cost is reported beside them.
 */
export const WARMUP_LOGINS = Number(process.env.BENCH_WARMUP_LOGINS ?? 2000);
/** Fresh imports per build in the sections that weigh a hand-written stand-in against its library part (lru, lazy-builtins). */
export const STAND_IN_RUNS = Number(process.env.BENCH_STAND_IN_RUNS ?? 21);
/**
 * Placeholder configuration so a bundle's cold start can run. No request reaches anything: the
 * login's connections, opened at initialisation, go to a closed local port and are refused.
 */
export const DUMMY_ENV = {
  WECHAT_APPID: 'wxbench',
  WECHAT_SECRET: 'bench-secret',
  WECHAT_API_BASE: 'http://127.0.0.1:9',
  DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
  USERS_TABLE: 'bench-users',
  UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
  UPSTASH_REDIS_REST_TOKEN: 'bench-token',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export const log = (line = '') => process.stdout.write(`${line}\n`);

export const median = (values: number[]) => percentile(values, 50);
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
export const round = (value: number, digits = 1) => Number(value.toFixed(digits));
export const kb = (path: string) => round(statSync(path).size / 1024);

/** One section of the bench: `npm run bench -- --only <name>` runs it alone. */
export interface Section {
  name: string;
  /** What it measures, in a few words (the usage line lists it). */
  about: string;
  run(bench: Bench): Promise<SectionResult>;
}

export interface SectionResult {
  /** Its figures, merged into the report's JSON line. */
  figures: Record<string, unknown>;
  /** How many of what it ran (BENCH_* knobs), merged into the JSON's `runs`. */
  runs?: Record<string, number>;
  /** Its part of the readable report. */
  report: string[];
  /** Printed after the whole report (a profile's summary). */
  appendix?: string;
}

/** The run's resources, made once each, when a section first needs it. */
export interface Bench {
  /** The run's private work folder, removed afterwards. */
  work: string;
  /** The figures of the sections run before this one (a ratio across sections reads them; null without). */
  figures: Record<string, unknown>;
  /** The functions built as a deploy builds them (`serverless package`), read out of their zips. */
  bundles(): Promise<Record<FunctionName, string>>;
  /** @aws-sdk/client-dynamodb + @upstash/redis built the typical way (esbuild, CommonJS, minified). */
  reference(): Promise<string>;
  /** The local stack, started once and stopped at the end. */
  stack(): Promise<LocalStack>;
  /** The functions' environment against the local stack. */
  env(): Promise<Record<string, string>>;
  /** The login function's memory as the packaged template gives it (BENCH_MEMORY_MB overrides it). */
  coldMemoryMB(): Promise<number>;
  /** Stops what was started. */
  close(): Promise<void>;
}

const once = <T>(make: () => Promise<T>) => {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
};

export function createBench(work: string): Bench {
  const bundles = once(async () => {
    log('building the functions as a deploy does (serverless package) …');
    return (await packageFunctions(root, work, DUMMY_ENV, 'bench')) as Record<FunctionName, string>;
  });
  const reference = once(async () => {
    const outfile = join(work, 'reference', 'reference.cjs');
    await build({
      entryPoints: [join(root, 'bench', 'reference-entry.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      minify: true,
      target: 'node22',
      outfile,
      logLevel: 'error',
    });
    return outfile;
  });
  let started: LocalStack | undefined;
  const stack = once(async () => {
    log('starting the local stack …');
    started = await startLocalStack({ env: { LOG_LEVEL: 'error' } });
    return started;
  });
  const coldMemoryMB = once(async () => {
    if (process.env.BENCH_MEMORY_MB) return MEMORY_MB;
    await bundles();
    return loginMemoryMB(join(work, 'artifacts'));
  });
  return {
    work,
    figures: {},
    bundles,
    reference,
    stack,
    env: async () => ({ ...(await stack()).env, LOG_LEVEL }),
    coldMemoryMB,
    async close() {
      await started?.stop();
    },
  };
}

/** The login function's memory as the packaged template gives it (serverless.yml's loginMemory). */
function loginMemoryMB(artifacts: string): number {
  const template = JSON.parse(readFileSync(join(artifacts, 'cloudformation-template-update-stack.json'), 'utf8'));
  const login = Object.values<{ Type: string; Properties: { Handler?: string; MemorySize?: number } }>(template.Resources).find(
    (resource) => resource.Type === 'AWS::Lambda::Function' && resource.Properties.Handler === 'functions/login.handler',
  );
  if (!login?.Properties.MemorySize) throw new Error('the packaged template has no login function with a MemorySize');
  return Number(login.Properties.MemorySize);
}

/** The deploy's esbuild plugins (deploy/esbuild-plugins.cjs), as serverless-esbuild loads them. */
export const deployPlugins = () => createRequire(import.meta.url)(join(root, 'deploy', 'esbuild-plugins.cjs')) as Plugin[];

/**
 * `entry` built as serverless.yml builds the functions (ES module, minified, the same banner and
 * plugins), into `outfile`; `before` are plugins run ahead of the deploy's (a section's
 * variant: the library part in place of a stand-in).
 */
export async function buildLikeDeploy(entry: string, outfile: string, before: Plugin[] = []): Promise<string> {
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    minify: true,
    target: 'node22',
    mainFields: ['module', 'main'],
    plugins: [...before, ...deployPlugins()],
    banner: { js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);" },
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

export interface ColdImport {
  /** Wall time of the import alone. */
  ms: number;
  /** CPU of the import alone, and from the process's start through it (Node's bootstrap included). */
  cpuMs: number;
  cpuFromStartMs: number;
  /** The Node builtins the import loaded (process.moduleLoadList), read after the timing. */
  builtins: string[];
}

/** One fresh process: how long loading the bundle takes, as Lambda would load it. */
export function coldImport(bundle: string, flags: string[]): Promise<ColdImport> {
  const load = bundle.endsWith('.cjs') ? `require(${JSON.stringify(bundle)})` : `await import(${JSON.stringify(bundle)})`;
  const loader = `const b=new Set(process.moduleLoadList);const c=process.cpuUsage();const t=performance.now();${load};const ms=performance.now()-t;const u=process.cpuUsage();
const builtins=process.moduleLoadList.filter((n)=>!b.has(n)&&n.startsWith('NativeModule ')).map((n)=>n.slice(13));
process.stdout.write(JSON.stringify({ms,cpuMs:(u.user+u.system-c.user-c.system)/1000,cpuFromStartMs:(u.user+u.system)/1000,builtins}))`;
  const args = [...flags, ...(bundle.endsWith('.cjs') ? ['-e', loader] : ['--input-type=module', '-e', loader])];
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, { env: { ...process.env, ...DUMMY_ENV }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`cold import of ${bundle} failed`))));
  });
}

export interface LoginRun {
  latencies: number[];
  cpuMicros: number;
  /** The same CPU time split by thread (Linux only), null where it can't be read. */
  threads: { main: number; helpers: number } | null;
  tokens: string[];
}

/** Consecutive runs as one. */
export function combine(runs: LoginRun[]): LoginRun {
  const threads = runs.every((run) => run.threads)
    ? { main: runs.reduce((sum, run) => sum + run.threads!.main, 0), helpers: runs.reduce((sum, run) => sum + run.threads!.helpers, 0) }
    : null;
  return { latencies: runs.flatMap((run) => run.latencies), cpuMicros: runs.reduce((sum, run) => sum + run.cpuMicros, 0), threads, tokens: runs.flatMap((run) => run.tokens) };
}

export const byThread = (run: LoginRun, n: number) => (run.threads ? { main: round(run.threads.main / 1000 / n, 3), helpers: round(run.threads.helpers / 1000 / n, 3) } : null);
export const threads = (split: ReturnType<typeof byThread>) => (split ? ` (main thread ${split.main}, V8 helper threads ${split.helpers})` : '');

export interface Worker {
  send<T>(message: object): Promise<T>;
}

/** A process running built bundles (bench/worker.mjs), with Lambda's Node flags. */
export function startWorker(): Worker {
  // stdout is a pipe, drained and dropped, as Lambda's is: the worker pays for writing its
  // log lines and metrics as a function does.
  const child = fork(join(root, 'bench', 'worker.mjs'), [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], execPath: NODE, execArgv: LAMBDA_FLAGS });
  child.stdout!.resume();
  return {
    send: (message) =>
      new Promise((resolve, reject) => {
        child.once('message', (reply: any) => (reply.type === 'error' ? reject(new Error(reply.message)) : resolve(reply)));
        child.send(message);
      }),
  };
}

/** Requests counted where they arrive: the WeChat stub, dynalite and the Upstash gateway. */
export function upstream(stack: LocalStack) {
  return {
    wechat: stack.wechat.stats.calls,
    phone: stack.wechat.stats.phoneCalls,
    stableToken: stack.wechat.stats.stableTokenCalls,
    dynamodb: stack.dynamo.stats.requests,
    redis: stack.gateway.stats.requests,
    connections: stack.wechat.connections() + stack.dynamo.connections() + stack.gateway.connections(),
  };
}
export type Upstream = ReturnType<typeof upstream>;
export function perCall(before: Upstream, after: Upstream, n: number) {
  return {
    wechat: round((after.wechat - before.wechat) / n, 2),
    dynamodb: round((after.dynamodb - before.dynamodb) / n, 2),
    redis: round((after.redis - before.redis) / n, 2),
  };
}

export const nodeVersion = () => execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim();

/**
 * Fresh processes importing each of several builds of one bundle (Lambda's flags), interleaved
 * round by round so every variant sees the same noise; `runs` rounds.
 */
export async function coldImportsInterleaved<K extends string>(bundles: Record<K, string>, runs: number): Promise<Record<K, ColdImport[]>> {
  const names = Object.keys(bundles) as K[];
  const out = Object.fromEntries(names.map((name) => [name, [] as ColdImport[]])) as Record<K, ColdImport[]>;
  for (let i = 0; i < runs; i++) {
    // The order turns each round, so no variant always follows the same one.
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length]!;
      out[name].push(await coldImport(bundles[name], LAMBDA_FLAGS));
    }
  }
  return out;
}

/**
 * Import CPU of `variant` over `baseline`, round by round (the same round's processes ran side
 * by side): the median difference, and in how many rounds the variant cost more.
 */
export function pairedCpu(variant: ColdImport[], baseline: ColdImport[]) {
  const diffs = variant.map((run, i) => run.cpuMs - baseline[i]!.cpuMs);
  return { medianMs: round(median(diffs), 2), dearerIn: diffs.filter((d) => d > 0).length, rounds: diffs.length };
}
