/**
 * The authorizer bundle in a worker: a warm-up, then sequential authorizations of live sessions
 * (the login section's, or made here when it did not run), with the upstream requests counted.
 */
import { log, perCall, percentile, round, startWorker, upstream, WARMUP_LOGINS, type Bench, type LoginRun, type Section } from '../shared';

const AUTHORIZATIONS = Number(process.env.BENCH_AUTHORIZATIONS ?? 1000);

/** Session tokens of `n` users logged in through the login bundle, in a worker of their own. */
export async function logUsersIn(bench: Bench, n: number, options: { fresh?: boolean; tag: string }): Promise<string[]> {
  const worker = startWorker();
  await worker.send({ type: 'load', bundle: (await bench.bundles()).login, env: await bench.env() });
  const run = await worker.send<LoginRun>({ type: 'login', n, concurrency: 16, tag: options.tag, fresh: options.fresh ?? false, keepTokens: n });
  await worker.send({ type: 'exit' });
  return run.tokens;
}

export const authorizeSection: Section = {
  name: 'authorize',
  about: 'the authorizer bundle: latency, CPU and upstream requests per authorization',
  async run(bench) {
    const bundles = await bench.bundles();
    const stack = await bench.stack();
    const env = await bench.env();
    // Users of their own, one session each: the login sections' users have logged in thousands
    // of times since, and the per-user cap (MAX_SESSIONS_PER_USER) has ended their early sessions.
    log('logging 200 users in for the authorizations …');
    const tokens = await logUsersIn(bench, 200, { fresh: true, tag: 'authorize' });
    const worker = startWorker();
    await worker.send({ type: 'load', bundle: bundles.authorizer, env });
    await worker.send({ type: 'authorize', n: Math.min(WARMUP_LOGINS, 1000), tokens });
    const before = upstream(stack);
    const authorize = await worker.send<{ latencies: number[]; cpuMicros: number }>({ type: 'authorize', n: AUTHORIZATIONS, tokens });
    const upstreamPerAuthorize = perCall(before, upstream(stack), AUTHORIZATIONS);
    const rss = await worker.send<{ maxRssKB: number }>({ type: 'exit' });
    const f = {
      authorizeP50Ms: round(percentile(authorize.latencies, 50), 2),
      authorizeP99Ms: round(percentile(authorize.latencies, 99), 2),
      cpuMsPerAuthorize: round(authorize.cpuMicros / 1000 / AUTHORIZATIONS, 3),
      upstreamPerAuthorize,
      authorizerMaxRssMB: round(rss.maxRssKB / 1024),
    };
    return {
      figures: f,
      runs: { authorizations: AUTHORIZATIONS },
      report: [
        'Authorize (authorizer bundle)',
        `  p50 ${f.authorizeP50Ms} ms   p99 ${f.authorizeP99Ms} ms   CPU ${f.cpuMsPerAuthorize} ms`,
        `  upstream per authorization  WeChat ${upstreamPerAuthorize.wechat}, DynamoDB ${upstreamPerAuthorize.dynamodb}, Redis ${upstreamPerAuthorize.redis}`,
      ],
    };
  },
};
