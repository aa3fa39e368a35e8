/**
 * Open data (POST /user/opendata): the opendata bundle in a worker, a warm-up, then sequential
 * decryptions of WeRun data (31 days of steps, as wx.getWeRunData hands it), each for its own
 * fresh user's session, made by the stub with that user's session_key. The decryption and the
 * watermark check are the route's own CPU; its one Redis request reads the sealed key.
 */
import { log, percentile, round, startWorker, upstream, type Section } from '../shared';
import { logUsersIn } from './authorize';

/** Reads before any is measured, then measured ones: each user's session reads once per pass. */
const USERS = Number(process.env.BENCH_OPENDATA_USERS ?? 200);
const WARMUP_PASSES = 3;
const PASSES = 5;

export const opendataSection: Section = {
  name: 'opendata',
  about: 'POST /user/opendata: latency, CPU and upstream requests per decryption of 31 days of WeRun steps',
  async run(bench) {
    const bundles = await bench.bundles();
    const stack = await bench.stack();
    const env = await bench.env();
    log(`logging ${USERS} fresh users in for the open-data reads …`);
    const tokens = await logUsersIn(bench, USERS, { fresh: true, tag: 'opendata' });
    const authWorker = startWorker();
    await authWorker.send({ type: 'load', bundle: bundles.authorizer, env });
    const { contexts } = await authWorker.send<{ contexts: object[] }>({ type: 'authorize', n: USERS, tokens, route: { method: 'POST', path: '/user/opendata' }, keepContexts: true });
    await authWorker.send({ type: 'exit' });

    // What wx.getWeRunData would hand each user's page: 31 days, encrypted with their key.
    const day = 86_400;
    const today = Math.floor(Date.now() / 1000 / day) * day;
    const data = { stepInfoList: Array.from({ length: 31 }, (_, i) => ({ timestamp: today - (30 - i) * day, step: 4000 + ((i * 7919) % 9000) })) };
    const bodies: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const made = await fetch(`${env.WECHAT_API_BASE}/__stub/opendata`, { method: 'POST', body: JSON.stringify({ name: `opendata-${i}`, data }) });
      bodies.push(await made.text());
    }
    const events = (passes: number, tag: string) =>
      Array.from({ length: passes * USERS }, (_, k) => {
        const i = k % USERS;
        // An HTTP API (payload 2.0) event as API Gateway hands it on, the authorizer's context in it.
        return {
          version: '2.0',
          routeKey: 'POST /user/opendata',
          rawPath: '/user/opendata',
          rawQueryString: '',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i]}` },
          isBase64Encoded: false,
          body: bodies[i],
          requestContext: { requestId: `bench-opendata-${tag}-${k}`, routeKey: 'POST /user/opendata', stage: '$default', http: { method: 'POST', path: '/user/opendata', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'bench' }, authorizer: { lambda: contexts[i] } },
        };
      });

    const worker = startWorker();
    await worker.send({ type: 'load', bundle: bundles.opendata, env });
    log(`warming the opendata worker up with ${WARMUP_PASSES * USERS} reads …`);
    await worker.send({ type: 'requests', events: events(WARMUP_PASSES, 'warmup'), expect: 200 });
    const before = upstream(stack);
    const checksBefore = stack.wechat.stats.sessionChecks;
    const n = PASSES * USERS;
    const run = await worker.send<{ latencies: number[]; cpuMicros: number }>({ type: 'requests', events: events(PASSES, 'measured'), expect: 200 });
    const after = upstream(stack);
    const rss = await worker.send<{ maxRssKB: number }>({ type: 'exit' });
    const f = {
      opendataP50Ms: round(percentile(run.latencies, 50), 2),
      opendataP99Ms: round(percentile(run.latencies, 99), 2),
      cpuMsPerOpendata: round(run.cpuMicros / 1000 / n, 3),
      upstreamPerOpendata: { checksession: round((stack.wechat.stats.sessionChecks - checksBefore) / n, 2), dynamodb: round((after.dynamodb - before.dynamodb) / n, 2), redis: round((after.redis - before.redis) / n, 2) },
      opendataMaxRssMB: round(rss.maxRssKB / 1024),
    };
    const per = f.upstreamPerOpendata;
    return {
      figures: f,
      runs: { opendataReads: n },
      report: [
        'Open data (opendata bundle: 31 days of WeRun steps, decrypted)',
        `  p50 ${f.opendataP50Ms} ms   p99 ${f.opendataP99Ms} ms   CPU ${f.cpuMsPerOpendata} ms`,
        `  upstream per read  checksession ${per.checksession}, DynamoDB ${per.dynamodb}, Redis ${per.redis}`,
      ],
    };
  },
};
