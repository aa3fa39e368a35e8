/**
 * The login, warm: the built login bundle in a worker process (so CPU time and memory are the
 * handler's alone) against the local stack, a warm-up, then sequential logins, logins at
 * concurrency 16, and the floor of four bare round trips. Upstream requests are counted where
 * they arrive: the WeChat stub, dynalite and the Upstash gateway.
 */
import http from 'node:http';
import { byThread, combine, log, perCall, percentile, round, startWorker, threads, upstream, WARMUP_LOGINS, type LoginRun, type Section } from '../shared';

const SEQUENTIAL_LOGINS = Number(process.env.BENCH_LOGINS ?? 2000);
const CONCURRENT_LOGINS = Number(process.env.BENCH_CONCURRENT_LOGINS ?? 800);
/**
 * BENCH_PROFILE=<file>: a V8 CPU profile of the sequential logins (the steady state).
 * (BENCH_PROFILE=cold is the cold-login section's.)
 */
const PROFILE = process.env.BENCH_PROFILE;

export const loginSection: Section = {
  name: 'login',
  about: 'warm logins in a worker: sequential and at concurrency 16, CPU per login, upstream requests, the round-trip floor',
  async run(bench) {
    const bundles = await bench.bundles();
    const stack = await bench.stack();
    const env = await bench.env();
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

    const before = upstream(stack);
    const sequential = await loginWorker.send<LoginRun>({
      type: 'login',
      n: SEQUENTIAL_LOGINS,
      concurrency: 1,
      tag: 'seq',
      ...(PROFILE && PROFILE !== 'cold' ? { profile: PROFILE } : {}),
    });
    const after = upstream(stack);
    const upstreamPerLogin = perCall(before, after, SEQUENTIAL_LOGINS);
    const connectionsDuringLogins = after.connections - before.connections;

    const concurrent = await loginWorker.send<LoginRun>({ type: 'login', n: CONCURRENT_LOGINS, concurrency: 16, tag: 'c16' });
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
    const loginRss = await loginWorker.send<{ maxRssKB: number }>({ type: 'exit' });

    const earlyPerLogin = earlyLogins ? round(early.cpuMicros / 1000 / earlyLogins, 3) : null;
    const f = {
      loginP50Ms: round(percentile(sequential.latencies, 50), 2),
      loginP99Ms: round(percentile(sequential.latencies, 99), 2),
      loginConcurrency16P50Ms: round(percentile(concurrent.latencies, 50), 2),
      loginConcurrency16P99Ms: round(percentile(concurrent.latencies, 99), 2),
      cpuMsPerLogin: round(sequential.cpuMicros / 1000 / SEQUENTIAL_LOGINS, 3),
      cpuMsPerLoginByThread: byThread(sequential, SEQUENTIAL_LOGINS),
      firstLoginMs: round(firstLogin.latencies[0]!, 2),
      /** The worker's own first login; it also pays the first run of the worker's measuring code, which no container has. */
      cpuMsFirstLoginInWorker: round(firstLogin.cpuMicros / 1000, 3),
      cpuMsPerLoginEarly: earlyPerLogin,
      cpuMsPerLoginWarmingUp: round(warmup.cpuMicros / 1000 / WARMUP_LOGINS, 3),
      cpuMsPerLoginWarmingUpByThread: byThread(warmup, WARMUP_LOGINS),
      cpuMsPerLoginConcurrency16: round(concurrent.cpuMicros / 1000 / CONCURRENT_LOGINS, 3),
      cpuMsFloor4HttpRoundTrips: round(floorHttp.cpuMicros / 1000 / FLOOR_OPS, 3),
      cpuMsFloor4FetchRoundTrips: round(floorFetch.cpuMicros / 1000 / FLOOR_OPS, 3),
      upstreamPerLogin,
      connectionsOpenedDuringLogins: connectionsDuringLogins,
      maxRssMB: round(loginRss.maxRssKB / 1024),
    };
    return {
      figures: f,
      runs: { warmupLogins: WARMUP_LOGINS, logins: SEQUENTIAL_LOGINS, concurrentLogins: CONCURRENT_LOGINS },
      report: [
        'Login, handler in process against the local stack (WeChat stub answers at once)',
        `  sequential      p50 ${f.loginP50Ms} ms   p99 ${f.loginP99Ms} ms   CPU ${f.cpuMsPerLogin} ms/login (target ≤ 2)`,
        `    per login${threads(f.cpuMsPerLoginByThread)}`,
        `  warm-up, the worker's first ${WARMUP_LOGINS} logins: CPU ${f.cpuMsPerLoginWarmingUp} ms/login${threads(f.cpuMsPerLoginWarmingUpByThread)}`,
        `    its very first login: ${f.firstLoginMs} ms, CPU ${f.cpuMsFirstLoginInWorker} ms (with the worker's own first run); logins 2–100: CPU ${f.cpuMsPerLoginEarly} ms/login`,
        `    (V8 compiling and optimising the hot code; a one-off per container, not part of the steady-state figure)`,
        `  concurrency 16  p50 ${f.loginConcurrency16P50Ms} ms   p99 ${f.loginConcurrency16P99Ms} ms   CPU ${f.cpuMsPerLoginConcurrency16} ms/login`,
        `  floor: 4 bare keep-alive round trips cost ${f.cpuMsFloor4HttpRoundTrips} ms CPU with node:http, ${f.cpuMsFloor4FetchRoundTrips} ms with fetch`,
        `  upstream per login  WeChat ${upstreamPerLogin.wechat}, DynamoDB ${upstreamPerLogin.dynamodb}, Redis ${upstreamPerLogin.redis}`,
        `  TCP connections opened over ${SEQUENTIAL_LOGINS} sequential logins: ${connectionsDuringLogins} (keep-alive reuse)`,
      ],
    };
  },
};
