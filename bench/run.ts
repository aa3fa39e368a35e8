/**
 * `npm run bench`: how fast the service starts and how little a login costs on top of WeChat.
 *
 * 1. Builds the functions as a deploy does (`serverless package`) and reads the bundles out of
 *    the deployment zips.
 * 2. Cold import: fresh Node processes loading the login bundle (as Lambda loads an .mjs
 *    handler, with import()) against a reference bundle of the two SDK clients built the
 *    typical way (esbuild, CommonJS, minified; loaded with require(), as Lambda loads a
 *    CommonJS handler). Median of several runs, interleaved so both see the same noise.
 * 3. Starts the local stack and drives the built login and authorizer bundles in a separate
 *    worker process (so CPU time and memory are the handler's alone): a warm-up, then
 *    sequential logins, logins at concurrency 16, and authorizations. Upstream requests are
 *    counted where they arrive: the WeChat stub, dynalite and the Upstash gateway.
 * 4. Phone binding (POST /user/phone) the same way: the phone bundle in a worker, a warm-up,
 *    then sequential first bindings and rebindings, each by a fresh user; then cold containers
 *    (one worker each, one bind) counting the stable_token calls they make.
 * 5. Cold logins: fresh processes (bench/cold-worker.mjs), each importing the login bundle and
 *    answering its first 100 logins, timed from the process's start; then fresh processes held
 *    to Lambda's CPU share for the login's memory (memory/1769 of a vCPU) by a cgroup CPU quota,
 *    where the machine lets us make one, to the first answer: wholly, and from the end of the
 *    import only (the init burst that Lambda is reported to give its INIT phase).
 * 6. The DynamoDB request handler (issue 15): a login's UpdateItem through lib's client and
 *    through one on the SDK's NodeHttpHandler, in one worker, against the same dynalite.
 *
 * Prints a readable report, then one JSON line (the last line) with the figures.
 * Nothing here asserts: docs/performance.md records the figures and the targets.
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import JSZip from 'jszip';
import { FUNCTIONS, packageFunctions } from '../local/package-functions';
import { profileMarkdown, summarizeProfile, type CpuProfile } from './profile-summary';
import { RespClient } from '../local/resp';
import { startSsmStub } from '../local/ssm-stub';
import { startLocalStack, type LocalStack } from '../local/stack';
import { loadRedisConfig } from '../lib/config';
import { accessTokenKey } from '../lib/adapters/wechat-access-token';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 11);
/**
 * Logins a worker serves before anything is measured. V8 keeps compiling hot functions with
 * its optimising compiler (on helper threads) for the first couple of thousand logins; a
 * container serving a mini-program lives far longer, so the figures are the steady state,
 * and the warm-up's own cost is reported beside them.
 */
const WARMUP_LOGINS = Number(process.env.BENCH_WARMUP_LOGINS ?? 2000);
const SEQUENTIAL_LOGINS = Number(process.env.BENCH_LOGINS ?? 2000);
const CONCURRENT_LOGINS = Number(process.env.BENCH_CONCURRENT_LOGINS ?? 800);
const AUTHORIZATIONS = Number(process.env.BENCH_AUTHORIZATIONS ?? 1000);
/**
 * Phone bindings before any is measured: half first bindings of fresh users, half rebindings
 * of the same users, so both paths are compiled. Fewer than the login's warm-up, to keep the
 * bench near 40 s: after 600, V8's helper threads still spend ~0.2 ms a bind optimising
 * (after 2,000, ~0.06 ms; the main thread's share is the same), which the per-thread split
 * shows. The warm-up's own CPU per bind is reported beside the measured figure.
 */
const WARMUP_BINDS = 2 * Math.ceil(Number(process.env.BENCH_WARMUP_BINDS ?? 600) / 2);
/** Measured first bindings (each a fresh user), then as many rebindings of those users. */
const BINDS = Number(process.env.BENCH_BINDS ?? 500);
/** Fresh phone workers per case of the stable_token count, each serving one bind. */
const COLD_CONTAINERS = Number(process.env.BENCH_COLD_CONTAINERS ?? 5);
/**
 * The Node that loads and runs the bundles (cold imports, workers): this one by default;
 * BENCH_NODE=/path/to/node for another, e.g. the Lambda runtime's version (docs/development.md, Tests).
 */
const NODE = process.env.BENCH_NODE || process.execPath;
/** The functions log as deployed (serverless.yml's logLevel): a line per login at info. */
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
/**
 * The Lambda memory size to emulate. Lambda's Node.js runtime sizes V8's heap from it (new
 * space a tenth of it, split in two semi-spaces; old space the rest), so the worker runs with
 * the same flags: on a big machine V8 would otherwise let the heap grow far past that.
 */
const MEMORY_MB = Number(process.env.BENCH_MEMORY_MB ?? 128);
/**
 * The flags Lambda's Node.js runtime starts Node with (its bootstrap script): --expose-gc, a
 * larger header limit, and the heap sized from the memory. They matter to a cold start beyond
 * the heap: with any V8 flag set, Node compiles each builtin a process loads from source instead
 * of taking its built-in code cache (node:https alone is then ~25 ms of CPU on Node 22), so
 * every fresh process here, the reference bundle's included, starts with them.
 */
const lambdaFlags = (memoryMB: number) => [
  '--expose-gc',
  '--max-http-header-size=81920',
  `--max-semi-space-size=${Math.floor(memoryMB / 10 / 2)}`,
  `--max-old-space-size=${memoryMB - Math.floor(memoryMB / 10)}`,
];
const LAMBDA_FLAGS = lambdaFlags(MEMORY_MB);
/** Fresh processes that import the login bundle and answer COLD_LOGINS logins each (the first, then the rest). */
const COLD_LOGIN_RUNS = Number(process.env.BENCH_COLD_LOGIN_RUNS ?? 5);
const COLD_LOGINS = Math.max(1, Number(process.env.BENCH_COLD_LOGINS ?? 100));
/**
 * The quota's period. AWS does not publish Lambda's; it has been observed to throttle in 20 ms
 * slices (github.com/pwrdrvr/lambda-dispatch/issues/246): a function that spends its share of
 * a slice is paused until the slice ends. A longer period would let a short cold start run at
 * full speed before the pause, and flatter it.
 */
const CPU_PERIOD_US = Number(process.env.BENCH_CPU_PERIOD_US ?? 20_000);
/** UpdateItems per DynamoDB request handler: a warm-up each, then the measured ones in alternating rounds. */
const DYNAMO_WARMUP = Number(process.env.BENCH_DYNAMO_WARMUP ?? 600);
const DYNAMO_UPDATES = Number(process.env.BENCH_DYNAMO_UPDATES ?? 1200);
/**
 * BENCH_PROFILE=<file>: a V8 CPU profile of the sequential logins (the steady state).
 * BENCH_PROFILE=cold: profiles of one more fresh login process (not in the figures): its start
 * through the import, its first login, and its next logins, into BENCH_PROFILE_DIR
 * (./bench-profile), with a summary by source module (through the bundle's source map)
 * printed and written beside them.
 */
const PROFILE = process.env.BENCH_PROFILE;
const COLD_PROFILE_DIR = PROFILE === 'cold' ? resolve(process.env.BENCH_PROFILE_DIR ?? 'bench-profile') : undefined;
/**
 * Placeholder configuration so a bundle's cold start can run. No request reaches anything: the
 * login's connections, opened at initialisation, go to a closed local port and are refused.
 */
const DUMMY_ENV = {
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

// The SDK's notice that it will soon need Node 22 is about this machine, not about Lambda's
// runtime (nodejs22.x); keep it out of the report.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const work = mkdtempSync(join(tmpdir(), 'wxlogin-bench-'));
const log = (line = '') => process.stdout.write(`${line}\n`);

async function referenceBundle(): Promise<string> {
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
}

interface ColdImport {
  /** Wall time of the import alone. */
  ms: number;
  /** CPU of the import alone, and from the process's start through it (Node's bootstrap included). */
  cpuMs: number;
  cpuFromStartMs: number;
}

/** One fresh process: how long loading the bundle takes, as Lambda would load it. */
function coldImport(bundle: string, flags: string[]): Promise<ColdImport> {
  const load = bundle.endsWith('.cjs') ? `require(${JSON.stringify(bundle)})` : `await import(${JSON.stringify(bundle)})`;
  const loader = `const c=process.cpuUsage();const t=performance.now();${load};const ms=performance.now()-t;const u=process.cpuUsage();
process.stdout.write(JSON.stringify({ms,cpuMs:(u.user+u.system-c.user-c.system)/1000,cpuFromStartMs:(u.user+u.system)/1000}))`;
  const args = [...flags, ...(bundle.endsWith('.cjs') ? ['-e', loader] : ['--input-type=module', '-e', loader])];
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, { env: { ...process.env, ...DUMMY_ENV }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`cold import of ${bundle} failed`))));
  });
}

/** What bench/cold-worker.mjs reports of one fresh login process (ms, from the process's start). */
interface ColdLogin {
  bootCpuMs: number;
  bootWallMs: number;
  importCpuMs: number;
  importWallMs: number;
  firstLoginCpuMs: number;
  firstLoginWallMs: number;
  firstAnswerCpuMs: number;
  firstAnswerWallMs: number;
  laterLogins: number;
  laterLoginsCpuMs: number;
}

/** The cold processes' client IPs: each its own, after the login worker's (10.0.x.y), so none meets the per-IP login limit. */
let nextColdIp = 1 << 20;

/**
 * One fresh process importing the login bundle and answering `logins` logins; with `cgroup`
 * (a cgroup.procs file), the process is in that cgroup from before Node starts, and with
 * `invokeCgroup`, from the end of its import (Lambda's INIT at full speed, its invocations not).
 */
function coldLogin(
  bundle: string,
  env: Record<string, string>,
  memoryMB: number,
  logins: number,
  tag: string,
  options: { cgroup?: string; invokeCgroup?: string; profileDir?: string } = {},
): Promise<ColdLogin> {
  const firstIp = nextColdIp;
  nextColdIp += logins;
  const args = [...lambdaFlags(memoryMB), join(root, 'bench', 'cold-worker.mjs'), bundle, String(logins), tag, String(firstIp), ...(options.profileDir ? [options.profileDir] : [])];
  // exec keeps the shell's pid, which joined the cgroup: all of Node runs under the quota.
  const [command, argv] = options.cgroup ? ['/bin/sh', ['-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', options.cgroup, NODE, ...args]] : [NODE, args];
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      env: { ...process.env, ...env, LOG_LEVEL, ...(options.invokeCgroup ? { BENCH_INVOKE_CGROUP: options.invokeCgroup } : {}) },
      stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
    });
    child.stdout!.resume();
    let out = '';
    child.stdio[3]!.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => (code === 0 && out ? resolve(JSON.parse(out)) : reject(new Error(`cold login process failed (${code})`))));
  });
}

/** Where fresh processes can be held to a share of one CPU, and how; or why not. */
interface CpuQuota {
  method: string;
  /** The cgroup.procs file to join, when there is a quota. */
  procs?: string;
  close(): void;
}

/**
 * A child cgroup with a CFS quota of `share` CPUs: cgroup v2 (cpu.max) where this process's
 * cgroup offers the cpu controller, else cgroup v1's cpu controller (cpu.cfs_quota_us, the same
 * kernel mechanism). Needs the right to make a cgroup (root, or a delegated subtree).
 */
function cpuQuota(share: number): CpuQuota {
  const quota = Math.max(1000, Math.round(share * CPU_PERIOD_US));
  const cgroups = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').map((line) => line.split(':'));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((line) => {
    const [before, after] = line.split(' - ');
    const fields = before!.split(' ');
    const [fsType, , superOptions] = after!.split(' ');
    return { root: fields[3]!, point: fields[4]!, fsType: fsType!, options: superOptions!.split(',') };
  });
  const attempts: string[] = [];
  const tryMake = (dir: string, files: Record<string, string>, method: string): CpuQuota | undefined => {
    const child = join(dir, `wxlogin-bench-${process.pid}`);
    try {
      mkdirSync(child);
    } catch (err) {
      attempts.push(`${method}: cannot create a cgroup in ${dir} (${(err as NodeJS.ErrnoException).code})`);
      return undefined;
    }
    try {
      for (const [file, value] of Object.entries(files)) writeFileSync(join(child, file), value);
    } catch (err) {
      rmdirQuietly(child);
      attempts.push(`${method}: cannot write its quota (${(err as NodeJS.ErrnoException).code})`);
      return undefined;
    }
    const procs = join(child, 'cgroup.procs');
    try {
      // A shell that joins and exits: what each cold process will do before Node starts.
      execFileSync('/bin/sh', ['-c', 'echo $$ > "$1"', 'sh', procs], { stdio: 'ignore' });
    } catch {
      rmdirQuietly(child);
      attempts.push(`${method}: a process cannot join the cgroup`);
      return undefined;
    }
    return { method, procs, close: () => rmdirQuietly(child) };
  };
  const v2 = mounts.find((m) => m.fsType === 'cgroup2');
  const v2Path = cgroups.find(([id]) => id === '0')?.[2];
  if (v2 && v2Path !== undefined) {
    const dir = join(v2.point, v2Path);
    const controllers = existsSync(join(dir, 'cgroup.controllers')) ? readFileSync(join(dir, 'cgroup.controllers'), 'utf8').split(/\s+/) : [];
    if (!controllers.includes('cpu')) attempts.push(`cgroup v2: no cpu controller in ${dir}`);
    else {
      try {
        writeFileSync(join(dir, 'cgroup.subtree_control'), '+cpu');
      } catch {
        // Already on, or not ours to change: making the child says which.
      }
      const made = tryMake(dir, { 'cpu.max': `${quota} ${CPU_PERIOD_US}` }, 'cgroup v2 cpu.max');
      if (made) return made;
    }
  }
  const v1 = mounts.find((m) => m.fsType === 'cgroup' && m.options.includes('cpu'));
  const v1Path = cgroups.find(([, controllers]) => controllers!.split(',').includes('cpu'))?.[2];
  if (v1 && v1Path !== undefined) {
    const made = tryMake(join(v1.point, v1Path.slice(v1.root === '/' ? 0 : v1.root.length)), { 'cpu.cfs_period_us': String(CPU_PERIOD_US), 'cpu.cfs_quota_us': String(quota) }, 'cgroup v1 cpu.cfs_quota_us');
    if (made) return made;
  } else attempts.push('no cgroup v1 cpu controller');
  return { method: `unavailable: ${attempts.join('; ')}`, close() {} };
}

function rmdirQuietly(dir: string) {
  try {
    rmdirSync(dir);
  } catch {
    // A cgroup with a process still in it (one that failed to exit) stays; it is empty soon.
  }
}

/**
 * bench/dynamo-entry.ts built as serverless.yml builds the functions (ES module, minified, the
 * same banner and plugins), so both DynamoDB handlers run as deployed code would.
 */
async function dynamoBundle(): Promise<string> {
  const outfile = join(work, 'dynamo', 'dynamo.mjs');
  await build({
    entryPoints: [join(root, 'bench', 'dynamo-entry.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    minify: true,
    target: 'node22',
    mainFields: ['module', 'main'],
    plugins: createRequire(import.meta.url)(join(root, 'deploy', 'esbuild-plugins.cjs')) as Plugin[],
    banner: { js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);" },
    outfile,
    logLevel: 'error',
  });
  return outfile;
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

/**
 * One fresh process: load the bundle, then answer one request that needs the function's
 * initialisation (its settings read from the environment, or from SSM) but no upstream call.
 */
function coldFirstAnswer(bundle: string, env: Record<string, string>, flags: string[]): Promise<number> {
  const script = `const t=performance.now();const m=await import(${JSON.stringify(bundle)});
const r=await m.handler({routeKey:'POST /user/wechatlogin',headers:{},body:'{}',isBase64Encoded:false,requestContext:{requestId:'b',http:{sourceIp:'127.0.0.1'}}},{awsRequestId:'b'});
if(r.statusCode!==400)throw new Error('unexpected '+r.statusCode);process.stdout.write(String(performance.now()-t))`;
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [...flags, '--input-type=module', '-e', script], { env: { ...process.env, ...env, LOG_LEVEL }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(Number(out.split('\n').pop())) : reject(new Error('cold first answer failed'))));
  });
}

const median = (values: number[]) => percentile(values, 50);
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const round = (value: number, digits = 1) => Number(value.toFixed(digits));
const kb = (path: string) => round(statSync(path).size / 1024);

interface LoginRun {
  latencies: number[];
  cpuMicros: number;
  /** The same CPU time split by thread (Linux only), null where it can't be read. */
  threads: { main: number; helpers: number } | null;
  tokens: string[];
}

/** Consecutive runs as one. */
function combine(runs: LoginRun[]): LoginRun {
  const threads = runs.every((run) => run.threads)
    ? { main: runs.reduce((sum, run) => sum + run.threads!.main, 0), helpers: runs.reduce((sum, run) => sum + run.threads!.helpers, 0) }
    : null;
  return { latencies: runs.flatMap((run) => run.latencies), cpuMicros: runs.reduce((sum, run) => sum + run.cpuMicros, 0), threads, tokens: runs.flatMap((run) => run.tokens) };
}

const byThread = (run: LoginRun, n: number) => (run.threads ? { main: round(run.threads.main / 1000 / n, 3), helpers: round(run.threads.helpers / 1000 / n, 3) } : null);

interface Worker {
  send<T>(message: object): Promise<T>;
}

function startWorker(): Worker {
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

function upstream(stack: LocalStack) {
  return {
    wechat: stack.wechat.stats.calls,
    phone: stack.wechat.stats.phoneCalls,
    stableToken: stack.wechat.stats.stableTokenCalls,
    dynamodb: stack.dynamo.stats.requests,
    redis: stack.gateway.stats.requests,
    connections: stack.wechat.connections() + stack.dynamo.connections() + stack.gateway.connections(),
  };
}
function perCall(before: ReturnType<typeof upstream>, after: ReturnType<typeof upstream>, n: number) {
  return {
    wechat: round((after.wechat - before.wechat) / n, 2),
    dynamodb: round((after.dynamodb - before.dynamodb) / n, 2),
    redis: round((after.redis - before.redis) / n, 2),
  };
}
/** A bind's WeChat call is getuserphonenumber, beside which it may ask stable_token for the access token. */
function perBind(before: ReturnType<typeof upstream>, after: ReturnType<typeof upstream>, n: number) {
  return {
    wechat: round((after.phone - before.phone) / n, 2),
    stableToken: round((after.stableToken - before.stableToken) / n, 2),
    dynamodb: round((after.dynamodb - before.dynamodb) / n, 2),
    redis: round((after.redis - before.redis) / n, 2),
  };
}

async function main() {
  log('building the functions as a deploy does (serverless package) …');
  const bundles = await packageFunctions(root, work, DUMMY_ENV, 'bench');
  const reference = await referenceBundle();
  const dynamo = await dynamoBundle();
  // Lambda's CPU share for the login function: memory/1769 of a vCPU (AWS, "Configure Lambda
  // function memory"). BENCH_MEMORY_MB, if set, stands for the login's memory here too.
  const coldMemoryMB = process.env.BENCH_MEMORY_MB ? MEMORY_MB : loginMemoryMB(join(work, 'artifacts'));
  const cpuShare = Math.min(1, coldMemoryMB / 1769);
  // Every fresh process of the login (and of the bundles compared with it) starts as Lambda
  // would start the login's: with the flags for its memory.
  const coldFlags = lambdaFlags(coldMemoryMB);

  log(`cold import: ${COLD_RUNS} fresh processes per bundle, interleaved …`);
  const cold = { login: [] as ColdImport[], reference: [] as ColdImport[], authorizer: [] as ColdImport[], phone: [] as ColdImport[] };
  for (let i = 0; i < COLD_RUNS; i++) {
    cold.login.push(await coldImport(bundles.login, coldFlags));
    cold.reference.push(await coldImport(reference, coldFlags));
    cold.authorizer.push(await coldImport(bundles.authorizer, coldFlags));
    cold.phone.push(await coldImport(bundles.phone, coldFlags));
  }

  log('starting the local stack and a worker process for the built bundles …');
  const stack = await startLocalStack({ env: { LOG_LEVEL: 'error' } });
  try {
    const env: Record<string, string> = { ...stack.env, LOG_LEVEL };

    // What reading the settings from SSM adds to a cold start (production reads four
    // parameters in one signed request; locally they come from the environment).
    const parameterNames = {
      WECHAT_APPID: '/bench/wechat-appid',
      WECHAT_SECRET: '/bench/wechat-secret',
      UPSTASH_REDIS_REST_URL: '/bench/upstash-url',
      UPSTASH_REDIS_REST_TOKEN: '/bench/upstash-token',
    };
    const ssm = await startSsmStub({
      region: env.AWS_REGION!,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY!, sessionToken: env.AWS_SESSION_TOKEN },
      parameters: Object.fromEntries(Object.entries(parameterNames).map(([name, parameter]) => [parameter, env[name]!])),
    });
    const ssmEnv: Record<string, string> = { ...env, SSM_ENDPOINT: ssm.url };
    for (const [name, parameter] of Object.entries(parameterNames)) {
      ssmEnv[name] = '';
      ssmEnv[`${name}_PARAMETER`] = parameter;
    }
    const firstAnswer = { env: [] as number[], ssm: [] as number[] };
    for (let i = 0; i < COLD_RUNS; i++) {
      firstAnswer.env.push(await coldFirstAnswer(bundles.login, env, coldFlags));
      firstAnswer.ssm.push(await coldFirstAnswer(bundles.login, ssmEnv, coldFlags));
    }
    await ssm.close();
    const loginWorker = startWorker();
    await loginWorker.send({ type: 'load', bundle: bundles.login, env });
    log(`warming the login worker up with ${WARMUP_LOGINS} sequential logins …`);
    // In three parts, to show how a fresh container's cost falls: its very first login (every
    // code path compiled for the first time), the next 99, then the rest of the warm-up.
    const earlyLogins = Math.max(0, Math.min(99, WARMUP_LOGINS - 1));
    const firstLogin = await loginWorker.send<LoginRun>({ type: 'login', n: 1, concurrency: 1, tag: 'first' });
    const early = await loginWorker.send<LoginRun>({ type: 'login', n: earlyLogins, concurrency: 1, tag: 'early' });
    const rest = await loginWorker.send<LoginRun>({ type: 'login', n: WARMUP_LOGINS - 1 - earlyLogins, concurrency: 1, tag: 'warmup' });
    const warmup = combine([firstLogin, early, rest]);

    let before = upstream(stack);
    const sequential = await loginWorker.send<LoginRun>({
      type: 'login',
      n: SEQUENTIAL_LOGINS,
      concurrency: 1,
      tag: 'seq',
      ...(PROFILE && PROFILE !== 'cold' ? { profile: PROFILE } : {}),
    });
    let after = upstream(stack);
    const upstreamPerLogin = perCall(before, after, SEQUENTIAL_LOGINS);
    const connectionsDuringLogins = after.connections - before.connections;

    const concurrent = await loginWorker.send<LoginRun>({
      type: 'login',
      n: CONCURRENT_LOGINS,
      concurrency: 16,
      tag: 'c16',
    });
    // The floor: what 4 bare keep-alive HTTP round trips (a login's upstream calls) cost the
    // same worker process on this machine, with no SDK, no JSON, no crypto around them.
    const echo = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('{"result":"PONG"}'));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
    const echoUrl = `http://127.0.0.1:${(echo.address() as { port: number }).port}/`;
    const FLOOR_OPS = Math.min(SEQUENTIAL_LOGINS, 500);
    const floorHttp = await loginWorker.send<{ cpuMicros: number }>({ type: 'floor', url: echoUrl, n: FLOOR_OPS, client: 'http' });
    const floorFetch = await loginWorker.send<{ cpuMicros: number }>({ type: 'floor', url: echoUrl, n: FLOOR_OPS, client: 'fetch' });
    echo.close();
    echo.closeAllConnections();
    // The users the phone binds need, each fresh (no number yet), logged in through the login
    // bundle so their rows and sessions are exactly what a login writes. After every login
    // figure, so none of them includes these.
    const phoneUsers = WARMUP_BINDS / 2 + BINDS + 2 * COLD_CONTAINERS;
    log(`logging ${phoneUsers} fresh users in for the phone binds …`);
    const phoneLogins = await loginWorker.send<LoginRun>({ type: 'login', n: phoneUsers, concurrency: 16, tag: 'phone', fresh: true, keepTokens: phoneUsers });
    const loginRss = await loginWorker.send<{ maxRssKB: number }>({ type: 'exit' });

    // Cold logins: fresh processes, the users (u0…u63) now returning ones. Each at full speed
    // through its first COLD_LOGINS logins, then one under Lambda's CPU share to its first answer.
    const quota = cpuQuota(cpuShare);
    log(`cold logins: ${COLD_LOGIN_RUNS} fresh processes of ${COLD_LOGINS} logins each, and ${COLD_LOGIN_RUNS} + ${COLD_LOGIN_RUNS} to the first answer at ${round(cpuShare, 3)} of a CPU (${quota.method}) …`);
    const coldLogins: ColdLogin[] = [];
    // The reference bundle's cold import in the same kind of process, between them.
    const coldReference: ColdLogin[] = [];
    const coldAtShare: ColdLogin[] = [];
    const coldInitBurst: ColdLogin[] = [];
    try {
      for (let i = 0; i < COLD_LOGIN_RUNS; i++) {
        coldLogins.push(await coldLogin(bundles.login, env, coldMemoryMB, COLD_LOGINS, `cold${i}`));
        coldReference.push(await coldLogin(reference, env, coldMemoryMB, 0, `cold-reference${i}`));
        if (quota.procs) {
          coldAtShare.push(await coldLogin(bundles.login, env, coldMemoryMB, 1, `cold-share${i}`, { cgroup: quota.procs }));
          coldInitBurst.push(await coldLogin(bundles.login, env, coldMemoryMB, 1, `cold-burst${i}`, { invokeCgroup: quota.procs }));
        }
      }
    } finally {
      quota.close();
    }
    let coldProfile: string | undefined;
    if (COLD_PROFILE_DIR) {
      log(`profiling a fresh login process into ${COLD_PROFILE_DIR} …`);
      mkdirSync(COLD_PROFILE_DIR, { recursive: true });
      const profiled = await coldLogin(bundles.login, env, coldMemoryMB, COLD_LOGINS, 'cold-profile', { profileDir: COLD_PROFILE_DIR });
      const zip = await JSZip.loadAsync(readFileSync(join(work, 'artifacts', 'login.zip')));
      const mapFile = zip.file('functions/login.mjs.map');
      const map = mapFile ? JSON.parse(await mapFile.async('string')) : { version: 3, sources: [], names: [], mappings: '' };
      const summary = (name: string) => summarizeProfile(JSON.parse(readFileSync(join(COLD_PROFILE_DIR, `${name}.cpuprofile`), 'utf8')) as CpuProfile, pathToFileURL(bundles.login).href, map);
      coldProfile = [
        `## Cold login profile (${new Date().toISOString()}, ${execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim()})`,
        '',
        `A fresh process, profiled at 50 µs (the profiler itself slows it): start to first answer ${round(profiled.firstAnswerWallMs)} ms, ` +
          `${round(profiled.firstAnswerCpuMs)} ms CPU (Node's bootstrap ${round(profiled.bootCpuMs)}, import ${round(profiled.importCpuMs)}, first login ${round(profiled.firstLoginCpuMs)}); ` +
          `logins 2–${COLD_LOGINS} ${round(profiled.laterLoginsCpuMs / Math.max(1, profiled.laterLogins), 2)} ms CPU each.${mapFile ? '' : ' (The zip had no source map: modules unmapped.)'}`,
        '',
        profileMarkdown('Process start through the import (Node bootstrap, bundle import, init started)', summary('cold-import')),
        profileMarkdown('The first login (init finished, first requests)', summary('cold-first-login')),
        profileMarkdown(`Logins 2–${COLD_LOGINS}`, summary(`cold-logins-2-${COLD_LOGINS}`)),
      ].join('\n');
      writeFileSync(join(COLD_PROFILE_DIR, 'cold-profile-summary.md'), coldProfile);
    }

    // Issue 15: lib's DynamoDB request handler against the SDK's NodeHttpHandler, one worker.
    log(`DynamoDB request handlers: ${DYNAMO_WARMUP} warm-up and ${DYNAMO_UPDATES} measured UpdateItems each, interleaved …`);
    const dynamoWorker = startWorker();
    const dynamoConnections = stack.dynamo.connections();
    const dynamoHandlers = await dynamoWorker.send<{ cpuMicros: { custom: number; sdk: number }; n: number }>({ type: 'dynamo', bundle: dynamo, env, warmup: DYNAMO_WARMUP, n: DYNAMO_UPDATES, rounds: 6 });
    const dynamoConnectionsOpened = stack.dynamo.connections() - dynamoConnections;
    await dynamoWorker.send({ type: 'exit' });

    const authWorker = startWorker();
    await authWorker.send({ type: 'load', bundle: bundles.authorizer, env });
    await authWorker.send({ type: 'authorize', n: Math.min(WARMUP_LOGINS, 1000), tokens: sequential.tokens });
    before = upstream(stack);
    const authorize = await authWorker.send<{ latencies: number[]; cpuMicros: number }>({
      type: 'authorize',
      n: AUTHORIZATIONS,
      tokens: sequential.tokens,
    });
    after = upstream(stack);
    const upstreamPerAuthorize = perCall(before, after, AUTHORIZATIONS);
    // What the phone route gets as requestContext.authorizer.lambda: the authorizer's own
    // answer for each phone user's session, as API Gateway passes it on.
    const { contexts } = await authWorker.send<{ contexts: object[] }>({
      type: 'authorize',
      n: phoneUsers,
      tokens: phoneLogins.tokens,
      route: { method: 'POST', path: '/user/phone' },
      keepContexts: true,
    });
    const authRss = await authWorker.send<{ maxRssKB: number }>({ type: 'exit' });

    // Phone binding. Each bind is a fresh user binding a number never bound before (the stub
    // accepts each phone code once); a rebinding replaces that user's number with another new
    // one, and frees the old.
    const users = { warmup: contexts.slice(0, WARMUP_BINDS / 2), measured: contexts.slice(WARMUP_BINDS / 2, WARMUP_BINDS / 2 + BINDS), cold: contexts.slice(WARMUP_BINDS / 2 + BINDS) };
    let nextNumber = 13_900_000_000;
    const bind = (worker: Worker, userContexts: object[], tag: string) => {
      const firstNumber = nextNumber;
      nextNumber += userContexts.length;
      return worker.send<LoginRun>({ type: 'bind', n: userContexts.length, contexts: userContexts, firstNumber, tag });
    };
    const phoneWorker = startWorker();
    await phoneWorker.send({ type: 'load', bundle: bundles.phone, env });
    log(`warming the phone worker up with ${WARMUP_BINDS} sequential binds …`);
    const bindWarmup = combine([await bind(phoneWorker, users.warmup, 'warmup'), await bind(phoneWorker, users.warmup, 'warmup-rebind')]);
    before = upstream(stack);
    const firstBinds = await bind(phoneWorker, users.measured, 'first');
    after = upstream(stack);
    const upstreamPerBind = perBind(before, after, BINDS);
    let connectionsDuringBinds = after.connections - before.connections;
    before = after;
    const rebinds = await bind(phoneWorker, users.measured, 'rebind');
    after = upstream(stack);
    const upstreamPerRebind = perBind(before, after, BINDS);
    connectionsDuringBinds += after.connections - before.connections;
    const phoneRss = await phoneWorker.send<{ maxRssKB: number }>({ type: 'exit' });

    // Cold containers, one after the other, each a fresh worker serving one bind: how often
    // they ask stable_token for the access token. First with the token left in Redis by the
    // first of them (the key is deleted once, before it), then with the key deleted before each.
    log(`phone binds in ${COLD_CONTAINERS} + ${COLD_CONTAINERS} cold containers, one after the other …`);
    const redis = new RespClient(stack.redis.address);
    const tokenKey = accessTokenKey(loadRedisConfig(env).keyPrefix, env.WECHAT_APPID!);
    const coldBinds = async (contextsOfCase: object[], deleteBeforeEach: boolean) => {
      const stableTokenCalls: number[] = [];
      const latencies: number[] = [];
      for (const [i, context] of contextsOfCase.entries()) {
        // Straight to redis-server, not through the gateway: no Redis request is counted.
        if (i === 0 || deleteBeforeEach) await redis.send([['DEL', tokenKey]]);
        const calls = stack.wechat.stats.stableTokenCalls;
        const worker = startWorker();
        await worker.send({ type: 'load', bundle: bundles.phone, env });
        latencies.push((await bind(worker, [context], deleteBeforeEach ? 'cold-each' : 'cold-shared')).latencies[0]!);
        await worker.send({ type: 'exit' });
        stableTokenCalls.push(stack.wechat.stats.stableTokenCalls - calls);
      }
      return { stableTokenCalls, latencies };
    };
    const coldShared = await coldBinds(users.cold.slice(0, COLD_CONTAINERS), false);
    const coldEach = await coldBinds(users.cold.slice(COLD_CONTAINERS), true);
    redis.close();

    // CPU from a fresh process's start to its first answer (the login), or to the end of its
    // import (the reference bundle, in the same kind of process, or in a `node -e` one).
    const coldToFirstAnswerCpu = median(coldLogins.map((run) => run.firstAnswerCpuMs));
    const referenceInWorkerCpu = median(coldReference.map((run) => run.firstAnswerCpuMs));
    const referenceBareCpu = median(cold.reference.map((run) => run.cpuFromStartMs));
    const result = {
      coldImportMs: round(median(cold.login.map((run) => run.ms))),
      referenceColdImportMs: round(median(cold.reference.map((run) => run.ms))),
      coldImportRatio: round(median(cold.login.map((run) => run.ms)) / median(cold.reference.map((run) => run.ms)), 2),
      coldImportCpuMs: round(median(cold.login.map((run) => run.cpuMs))),
      referenceColdImportCpuMs: round(median(cold.reference.map((run) => run.cpuMs))),
      referenceColdImportCpuFromStartMs: round(referenceBareCpu),
      authorizerColdImportMs: round(median(cold.authorizer.map((run) => run.ms))),
      phoneColdImportMs: round(median(cold.phone.map((run) => run.ms))),
      coldFirstAnswerMs: round(median(firstAnswer.env)),
      coldFirstAnswerWithSsmMs: round(median(firstAnswer.ssm)),
      ssmColdStartCostMs: round(median(firstAnswer.ssm) - median(firstAnswer.env)),
      bundleKB: kb(bundles.login),
      referenceBundleKB: kb(reference),
      bundlesKB: Object.fromEntries(Object.keys(bundles).map((name) => [name, kb(bundles[name]!)])),
      loginP50Ms: round(percentile(sequential.latencies, 50), 2),
      loginP99Ms: round(percentile(sequential.latencies, 99), 2),
      loginConcurrency16P50Ms: round(percentile(concurrent.latencies, 50), 2),
      loginConcurrency16P99Ms: round(percentile(concurrent.latencies, 99), 2),
      cpuMsPerLogin: round(sequential.cpuMicros / 1000 / SEQUENTIAL_LOGINS, 3),
      cpuMsPerLoginByThread: byThread(sequential, SEQUENTIAL_LOGINS),
      firstLoginMs: round(firstLogin.latencies[0]!, 2),
      /**
       * A fresh container's first login: the median over the fresh processes, whose harness is
       * loaded and timed apart (bench/cold-worker.mjs). The login worker's own first login is
       * kept beside it (cpuMsFirstLoginInWorker); it also pays the first run of the worker's
       * measuring code, which no container has.
       */
      cpuMsFirstLogin: round(median(coldLogins.map((run) => run.firstLoginCpuMs)), 3),
      cpuMsFirstLoginInWorker: round(firstLogin.cpuMicros / 1000, 3),
      firstLoginCpuRatio: round(median(coldLogins.map((run) => run.firstLoginCpuMs)) / (sequential.cpuMicros / 1000 / SEQUENTIAL_LOGINS), 1),
      /** Fresh processes: CPU from the process's start (Node's bootstrap included) to the first login's answer. */
      cpuMsColdToFirstAnswer: round(coldToFirstAnswerCpu),
      /**
       * The reference bundle's cold import from its process's start, in the same kind of
       * process as the cold logins (bench/cold-worker.mjs: an ES module entry and Lambda's heap
       * flags, as Lambda's runtime starts one), interleaved with them.
       */
      referenceColdImportCpuFromStartInWorkerMs: round(referenceInWorkerCpu),
      referenceColdImportInWorker: {
        nodeBootstrapCpuMs: round(median(coldReference.map((run) => run.bootCpuMs))),
        importCpuMs: round(median(coldReference.map((run) => run.importCpuMs))),
      },
      /** cpuMsColdToFirstAnswer over that: the target is ≤ 1. */
      cpuColdToFirstAnswerVsReferenceImport: round(coldToFirstAnswerCpu / referenceInWorkerCpu, 2),
      /** The same over the reference's import in a `node -e` process (referenceColdImportCpuFromStartMs), the way runs before this one compared them. */
      cpuColdToFirstAnswerVsReferenceImportBare: round(coldToFirstAnswerCpu / referenceBareCpu, 2),
      coldToFirstAnswer: {
        nodeBootstrapCpuMs: round(median(coldLogins.map((run) => run.bootCpuMs))),
        importCpuMs: round(median(coldLogins.map((run) => run.importCpuMs))),
        firstLoginCpuMs: round(median(coldLogins.map((run) => run.firstLoginCpuMs))),
        wallMs: round(median(coldLogins.map((run) => run.firstAnswerWallMs))),
        firstLoginWallMs: round(median(coldLogins.map((run) => run.firstLoginWallMs))),
      },
      /** Fresh processes: CPU per login of logins 2…COLD_LOGINS. */
      cpuMsLogins2to100: COLD_LOGINS > 1 ? round(median(coldLogins.map((run) => run.laterLoginsCpuMs / run.laterLogins)), 3) : null,
      /** Wall time from the process's start to the first answer at Lambda's CPU share: measured under the quota, or estimated (CPU ÷ share). */
      coldFirstAnswerMsAtLambdaCpu: coldAtShare.length ? round(median(coldAtShare.map((run) => run.firstAnswerWallMs))) : round(coldToFirstAnswerCpu / cpuShare),
      coldFirstAnswerMsAtLambdaCpuIsEstimate: !coldAtShare.length,
      /** CPU ÷ share, beside the measured figure as a check (it leaves out waiting for the stack). */
      coldFirstAnswerMsAtLambdaCpuEstimate: round(coldToFirstAnswerCpu / cpuShare),
      coldImportMsAtLambdaCpu: coldAtShare.length ? round(median(coldAtShare.map((run) => run.importWallMs))) : null,
      /**
       * The same with the import at full speed and only the invocation at the share: what an init
       * burst (INIT at a full vCPU, reported but not documented by AWS) would make of it.
       */
      coldFirstAnswerMsAtLambdaCpuInitBurst: coldInitBurst.length ? round(median(coldInitBurst.map((run) => run.firstAnswerWallMs))) : null,
      coldFirstLoginMsAtLambdaCpu: coldInitBurst.length ? round(median(coldInitBurst.map((run) => run.firstLoginWallMs))) : null,
      cpuShare: round(cpuShare, 3),
      cpuShareMemoryMB: coldMemoryMB,
      cpuShareMethod: quota.procs ? `${quota.method}, period ${CPU_PERIOD_US / 1000} ms` : quota.method,
      dynamoCpuMsPerUpdateCustom: round(dynamoHandlers.cpuMicros.custom / 1000 / dynamoHandlers.n, 3),
      dynamoCpuMsPerUpdateSdk: round(dynamoHandlers.cpuMicros.sdk / 1000 / dynamoHandlers.n, 3),
      dynamoConnectionsOpenedByHandlers: dynamoConnectionsOpened,
      cpuMsPerLoginEarly: earlyLogins ? round(early.cpuMicros / 1000 / earlyLogins, 3) : null,
      cpuMsPerLoginWarmingUp: round(warmup.cpuMicros / 1000 / WARMUP_LOGINS, 3),
      cpuMsPerLoginWarmingUpByThread: byThread(warmup, WARMUP_LOGINS),
      cpuMsPerLoginConcurrency16: round(concurrent.cpuMicros / 1000 / CONCURRENT_LOGINS, 3),
      cpuMsFloor4HttpRoundTrips: round(floorHttp.cpuMicros / 1000 / FLOOR_OPS, 3),
      cpuMsFloor4FetchRoundTrips: round(floorFetch.cpuMicros / 1000 / FLOOR_OPS, 3),
      upstreamPerLogin,
      connectionsOpenedDuringLogins: connectionsDuringLogins,
      authorizeP50Ms: round(percentile(authorize.latencies, 50), 2),
      authorizeP99Ms: round(percentile(authorize.latencies, 99), 2),
      cpuMsPerAuthorize: round(authorize.cpuMicros / 1000 / AUTHORIZATIONS, 3),
      upstreamPerAuthorize,
      bindP50Ms: round(percentile(firstBinds.latencies, 50), 2),
      bindP99Ms: round(percentile(firstBinds.latencies, 99), 2),
      cpuMsPerBind: round(firstBinds.cpuMicros / 1000 / BINDS, 3),
      cpuMsPerBindByThread: byThread(firstBinds, BINDS),
      rebindP50Ms: round(percentile(rebinds.latencies, 50), 2),
      rebindP99Ms: round(percentile(rebinds.latencies, 99), 2),
      cpuMsPerRebind: round(rebinds.cpuMicros / 1000 / BINDS, 3),
      cpuMsPerBindWarmingUp: round(bindWarmup.cpuMicros / 1000 / WARMUP_BINDS, 3),
      upstreamPerBind,
      upstreamPerRebind,
      connectionsOpenedDuringBinds: connectionsDuringBinds,
      coldContainers: {
        /** stable_token calls of each container, the token left in Redis by the first. */
        stableTokenCallsSharedRedis: coldShared.stableTokenCalls,
        /** The same with the Redis key deleted before each container. */
        stableTokenCallsKeyDeletedEach: coldEach.stableTokenCalls,
        /** A cold container's first bind (after its import): the token read from Redis, or fetched. */
        firstBindTokenFromRedisMs: COLD_CONTAINERS > 1 ? round(median(coldShared.latencies.slice(1)), 2) : null,
        firstBindTokenFetchedMs: COLD_CONTAINERS > 0 ? round(median(coldEach.latencies), 2) : null,
      },
      maxRssMB: round(loginRss.maxRssKB / 1024),
      authorizerMaxRssMB: round(authRss.maxRssKB / 1024),
      phoneMaxRssMB: round(phoneRss.maxRssKB / 1024),
      memoryMB: MEMORY_MB,
      node: execFileSync(NODE, ['--version'], { encoding: 'utf8' }).trim(),
      runs: {
        cold: COLD_RUNS,
        warmupLogins: WARMUP_LOGINS,
        logins: SEQUENTIAL_LOGINS,
        concurrentLogins: CONCURRENT_LOGINS,
        authorizations: AUTHORIZATIONS,
        warmupBinds: WARMUP_BINDS,
        binds: BINDS,
        coldContainers: COLD_CONTAINERS,
        coldLoginRuns: COLD_LOGIN_RUNS,
        coldLogins: COLD_LOGINS,
        dynamoUpdates: dynamoHandlers.n,
      },
    };

    log();
    log('Bundles (as deployed)');
    const holds: Partial<Record<(typeof FUNCTIONS)[number], string>> = { phone: '  (DynamoDB and Redis clients, the WeChat access token)' };
    for (const name of Object.keys(result.bundlesKB)) log(`  ${name.padEnd(13)} ${String(result.bundlesKB[name]).padStart(7)} KB${holds[name as keyof typeof holds] ?? ''}`);
    log(`  reference     ${String(result.referenceBundleKB).padStart(7)} KB  (@aws-sdk/client-dynamodb + @upstash/redis, esbuild CJS minified)`);
    log();
    log('Cold import (median of fresh processes; a bundle\'s import awaits its initialisation: the login\'s connections and rehearsal included)');
    log(`  login       ${result.coldImportMs} ms`);
    log(`  reference   ${result.referenceColdImportMs} ms   → ratio ${result.coldImportRatio} (≤ 0.75 before the login's init moved into its import; the cold login below is the measure now)`);
    log(`  authorizer  ${result.authorizerColdImportMs} ms`);
    log(`  phone       ${result.phoneColdImportMs} ms`);
    log(`  login, load to first answer: ${result.coldFirstAnswerMs} ms with settings in the environment, ${result.coldFirstAnswerWithSsmMs} ms reading them from SSM`);
    log(`    (SSM adds ${result.ssmColdStartCostMs} ms here, over plain HTTP on loopback; in AWS add the TLS handshake and a regional round trip)`);
    log(`  CPU of the import alone: login ${result.coldImportCpuMs} ms, reference ${result.referenceColdImportCpuMs} ms (${result.referenceColdImportCpuFromStartMs} ms from its process's start)`);
    log();
    log(`Cold login (median of ${COLD_LOGIN_RUNS} fresh processes, each from its start: Node's bootstrap, the import, init, logins)`);
    const c = result.coldToFirstAnswer;
    log(`  start to first answer  CPU ${result.cpuMsColdToFirstAnswer} ms (bootstrap ${c.nodeBootstrapCpuMs}, import and init ${c.importCpuMs}, first login ${c.firstLoginCpuMs}), wall ${c.wallMs} ms`);
    const r = result.referenceColdImportInWorker;
    log(`  reference bundle, start to end of import in the same kind of process: CPU ${result.referenceColdImportCpuFromStartInWorkerMs} ms (bootstrap ${r.nodeBootstrapCpuMs}, import ${r.importCpuMs})`);
    log(`    → ${result.cpuColdToFirstAnswerVsReferenceImport} × the reference bundle's cold import from its start (target ≤ 1); ${result.cpuColdToFirstAnswerVsReferenceImportBare} × its import in a \`node -e\` process (${result.referenceColdImportCpuFromStartMs} ms)`);
    log(`  logins 2–${COLD_LOGINS}: CPU ${result.cpuMsLogins2to100} ms/login`);
    log(`  first login's CPU ÷ steady state: ${result.firstLoginCpuRatio} (${result.cpuMsFirstLogin} ms, median of the fresh processes / ${result.cpuMsPerLogin} ms; target ≤ 4)`);
    log(`  at Lambda's CPU share for ${coldMemoryMB} MB (${result.cpuShare} of a vCPU): start to first answer ${result.coldFirstAnswerMsAtLambdaCpu} ms${result.coldFirstAnswerMsAtLambdaCpuIsEstimate ? ' (ESTIMATE: CPU ÷ share; no CPU quota here)' : `, import ${result.coldImportMsAtLambdaCpu} ms (CPU ÷ share would say ${result.coldFirstAnswerMsAtLambdaCpuEstimate} ms)`}`);
    if (coldInitBurst.length) {
      log(`    with the import at full speed (an init burst) and the invocation at the share: ${result.coldFirstAnswerMsAtLambdaCpuInitBurst} ms, of which the first login ${result.coldFirstLoginMsAtLambdaCpu} ms`);
    }
    log(`    CPU share method: ${result.cpuShareMethod}`);
    if (coldProfile) log(`  cold profile: ${COLD_PROFILE_DIR} (cold-profile-summary.md)`);
    log();
    log('Login, handler in process against the local stack (WeChat stub answers at once)');
    log(`  sequential      p50 ${result.loginP50Ms} ms   p99 ${result.loginP99Ms} ms   CPU ${result.cpuMsPerLogin} ms/login (target ≤ 2)`);
    const threads = (split: ReturnType<typeof byThread>) => (split ? ` (main thread ${split.main}, V8 helper threads ${split.helpers})` : '');
    log(`    per login${threads(result.cpuMsPerLoginByThread)}`);
    log(`  warm-up, the worker's first ${WARMUP_LOGINS} logins: CPU ${result.cpuMsPerLoginWarmingUp} ms/login${threads(result.cpuMsPerLoginWarmingUpByThread)}`);
    log(`    its very first login: ${result.firstLoginMs} ms, CPU ${result.cpuMsFirstLoginInWorker} ms (with the worker's own first run); logins 2–100: CPU ${result.cpuMsPerLoginEarly} ms/login`);
    log(`    (V8 compiling and optimising the hot code; a one-off per container, not part of the steady-state figure)`);
    log(`  concurrency 16  p50 ${result.loginConcurrency16P50Ms} ms   p99 ${result.loginConcurrency16P99Ms} ms   CPU ${result.cpuMsPerLoginConcurrency16} ms/login`);
    log(`  floor: 4 bare keep-alive round trips cost ${result.cpuMsFloor4HttpRoundTrips} ms CPU with node:http, ${result.cpuMsFloor4FetchRoundTrips} ms with fetch`);
    log(`  upstream per login  WeChat ${upstreamPerLogin.wechat}, DynamoDB ${upstreamPerLogin.dynamodb}, Redis ${upstreamPerLogin.redis}`);
    log(`  TCP connections opened over ${SEQUENTIAL_LOGINS} sequential logins: ${connectionsDuringLogins} (keep-alive reuse)`);
    log(`  DynamoDB request handler, CPU per UpdateItem (a login's write; same run, same dynalite, interleaved):`);
    log(`    lib's node:http handler ${result.dynamoCpuMsPerUpdateCustom} ms   SDK NodeHttpHandler (cacheMiddleware, keep-alive) ${result.dynamoCpuMsPerUpdateSdk} ms   (${dynamoConnectionsOpened} connections opened)`);
    log();
    log('Authorize (authorizer bundle)');
    log(`  p50 ${result.authorizeP50Ms} ms   p99 ${result.authorizeP99Ms} ms   CPU ${result.cpuMsPerAuthorize} ms`);
    log(`  upstream per authorization  WeChat ${upstreamPerAuthorize.wechat}, DynamoDB ${upstreamPerAuthorize.dynamodb}, Redis ${upstreamPerAuthorize.redis}`);
    log();
    log('Phone binding (phone bundle; each bind a fresh user, logged in through the login bundle, with the authorizer bundle\'s context)');
    log(`  first binding   p50 ${result.bindP50Ms} ms   p99 ${result.bindP99Ms} ms   CPU ${result.cpuMsPerBind} ms/bind`);
    log(`    per bind${threads(result.cpuMsPerBindByThread)}`);
    log(`  rebinding       p50 ${result.rebindP50Ms} ms   p99 ${result.rebindP99Ms} ms   CPU ${result.cpuMsPerRebind} ms/bind (frees the old number)`);
    log(`  warm-up, the worker's first ${WARMUP_BINDS} binds: CPU ${result.cpuMsPerBindWarmingUp} ms/bind`);
    const calls = (u: typeof upstreamPerBind) => `WeChat ${u.wechat}, stable_token ${u.stableToken}, DynamoDB ${u.dynamodb}, Redis ${u.redis}`;
    log(`  upstream per first binding  ${calls(upstreamPerBind)}   (target 1, 0, ≤ 3, ≤ 2)`);
    log(`  upstream per rebinding      ${calls(upstreamPerRebind)}   (target 1, 0, 4, ≤ 2: the old number freed, and forgotten by the row)`);
    log(`  TCP connections opened over ${2 * BINDS} sequential binds: ${connectionsDuringBinds} (keep-alive reuse)`);
    const total = (counts: number[]) => counts.reduce((sum, n) => sum + n, 0);
    log(`  stable_token calls, ${COLD_CONTAINERS} cold containers one after the other, one bind each (target ≤ 1 each)`);
    log(`    token left in Redis by the first   ${coldShared.stableTokenCalls.join(' ')}   (total ${total(coldShared.stableTokenCalls)}, target 1)`);
    log(`    Redis key deleted before each      ${coldEach.stableTokenCalls.join(' ')}   (total ${total(coldEach.stableTokenCalls)}, target ${COLD_CONTAINERS})`);
    log(`    a cold container's first bind: ${result.coldContainers.firstBindTokenFromRedisMs} ms with the token in Redis, ${result.coldContainers.firstBindTokenFetchedMs} ms fetching it`);
    log();
    log(`Memory  login worker max RSS ${result.maxRssMB} MB (target ≤ 128), authorizer ${result.authorizerMaxRssMB} MB, phone ${result.phoneMaxRssMB} MB`);
    log(`        (workers run with Lambda's Node flags for ${MEMORY_MB} MB: ${LAMBDA_FLAGS.join(' ')})`);
    if (coldProfile) {
      log();
      log(coldProfile);
    }
    log();
    log(JSON.stringify(result));
  } finally {
    await stack.stop();
  }
}

try {
  await main();
} finally {
  // Whatever failed (the build, a cold import, the stack), the private work folder goes.
  rmSync(work, { recursive: true, force: true });
}
