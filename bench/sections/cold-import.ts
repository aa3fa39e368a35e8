/**
 * Cold import: fresh Node processes loading the login bundle (as Lambda loads an .mjs handler,
 * with import()) against a reference bundle of the two SDK clients built the typical way
 * (esbuild, CommonJS, minified; loaded with require(), as Lambda loads a CommonJS handler).
 * Median of several runs, interleaved so both see the same noise. Then the login's load to its
 * first answer, with its settings in the environment and read from SSM. And the bundles' sizes.
 */
import { spawn } from 'node:child_process';
import { startSsmStub } from '../../local/ssm-stub';
import { coldImport, kb, lambdaFlags, LOG_LEVEL, log, median, NODE, round, type ColdImport, type Section } from '../shared';

const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 11);

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

export const coldImportSection: Section = {
  name: 'cold-import',
  about: 'bundle sizes, fresh processes importing each bundle against the reference, load to first answer (env, SSM)',
  async run(bench) {
    const bundles = await bench.bundles();
    const reference = await bench.reference();
    // Every fresh process of the login (and of the bundles compared with it) starts as Lambda
    // would start the login's: with the flags for its memory.
    const coldFlags = lambdaFlags(await bench.coldMemoryMB());

    log(`cold import: ${COLD_RUNS} fresh processes per bundle, interleaved …`);
    const cold = { login: [] as ColdImport[], reference: [] as ColdImport[], authorizer: [] as ColdImport[], phone: [] as ColdImport[] };
    for (let i = 0; i < COLD_RUNS; i++) {
      cold.login.push(await coldImport(bundles.login, coldFlags));
      cold.reference.push(await coldImport(reference, coldFlags));
      cold.authorizer.push(await coldImport(bundles.authorizer, coldFlags));
      cold.phone.push(await coldImport(bundles.phone, coldFlags));
    }

    // What reading the settings from SSM adds to a cold start (production reads four
    // parameters in one signed request; locally they come from the environment).
    const env = await bench.env();
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
    try {
      for (let i = 0; i < COLD_RUNS; i++) {
        firstAnswer.env.push(await coldFirstAnswer(bundles.login, env, coldFlags));
        firstAnswer.ssm.push(await coldFirstAnswer(bundles.login, ssmEnv, coldFlags));
      }
    } finally {
      await ssm.close();
    }

    const ms = (runs: ColdImport[]) => median(runs.map((run) => run.ms));
    const f = {
      coldImportMs: round(ms(cold.login)),
      referenceColdImportMs: round(ms(cold.reference)),
      coldImportRatio: round(ms(cold.login) / ms(cold.reference), 2),
      coldImportCpuMs: round(median(cold.login.map((run) => run.cpuMs))),
      referenceColdImportCpuMs: round(median(cold.reference.map((run) => run.cpuMs))),
      /** The reference's import from its `node -e` process's start (the cold-login section compares with it). */
      referenceColdImportCpuFromStartMs: round(median(cold.reference.map((run) => run.cpuFromStartMs))),
      authorizerColdImportMs: round(ms(cold.authorizer)),
      phoneColdImportMs: round(ms(cold.phone)),
      coldFirstAnswerMs: round(median(firstAnswer.env)),
      coldFirstAnswerWithSsmMs: round(median(firstAnswer.ssm)),
      ssmColdStartCostMs: round(median(firstAnswer.ssm) - median(firstAnswer.env)),
      bundleKB: kb(bundles.login),
      referenceBundleKB: kb(reference),
      bundlesKB: Object.fromEntries(Object.entries(bundles).map(([name, path]) => [name, kb(path)])) as Record<string, number>,
    };
    const holds: Record<string, string> = { phone: '  (DynamoDB and Redis clients, the WeChat access token)' };
    return {
      figures: f,
      runs: { cold: COLD_RUNS },
      report: [
        'Bundles (as deployed)',
        ...Object.keys(f.bundlesKB).map((name) => `  ${name.padEnd(13)} ${String(f.bundlesKB[name]).padStart(7)} KB${holds[name] ?? ''}`),
        `  reference     ${String(f.referenceBundleKB).padStart(7)} KB  (@aws-sdk/client-dynamodb + @upstash/redis, esbuild CJS minified)`,
        '',
        'Cold import (median of fresh processes; a bundle\'s import awaits its initialisation: the login\'s connections and rehearsal included)',
        `  login       ${f.coldImportMs} ms`,
        `  reference   ${f.referenceColdImportMs} ms   → ratio ${f.coldImportRatio} (≤ 0.75 before the login's init moved into its import; the cold login below is the measure now)`,
        `  authorizer  ${f.authorizerColdImportMs} ms`,
        `  phone       ${f.phoneColdImportMs} ms`,
        `  login, load to first answer: ${f.coldFirstAnswerMs} ms with settings in the environment, ${f.coldFirstAnswerWithSsmMs} ms reading them from SSM`,
        `    (SSM adds ${f.ssmColdStartCostMs} ms here, over plain HTTP on loopback; in AWS add the TLS handshake and a regional round trip)`,
        `  CPU of the import alone: login ${f.coldImportCpuMs} ms, reference ${f.referenceColdImportCpuMs} ms (${f.referenceColdImportCpuFromStartMs} ms from its process's start)`,
      ],
    };
  },
};
