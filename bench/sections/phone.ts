/**
 * Phone binding (POST /user/phone): the phone bundle in a worker, a warm-up, then sequential
 * first bindings and rebindings, each by a fresh user (logged in through the login bundle, with
 * the authorizer bundle's answer as its context); then cold containers (one worker each, one
 * bind) counting the stable_token calls they make.
 */
import { loadRedisConfig } from '../../lib/config';
import { accessTokenKey } from '../../lib/adapters/wechat-access-token';
import { RespClient } from '../../local/resp';
import { byThread, combine, log, median, percentile, round, startWorker, threads, upstream, type LoginRun, type Section, type Upstream, type Worker } from '../shared';
import { logUsersIn } from './authorize';

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

/** A bind's WeChat call is getuserphonenumber, beside which it may ask stable_token for the access token. */
function perBind(before: Upstream, after: Upstream, n: number) {
  return {
    wechat: round((after.phone - before.phone) / n, 2),
    stableToken: round((after.stableToken - before.stableToken) / n, 2),
    dynamodb: round((after.dynamodb - before.dynamodb) / n, 2),
    redis: round((after.redis - before.redis) / n, 2),
  };
}

export const phoneSection: Section = {
  name: 'phone',
  about: 'phone bindings and rebindings: latency, CPU and upstream requests per bind; stable_token calls of cold containers',
  async run(bench) {
    const bundles = await bench.bundles();
    const stack = await bench.stack();
    const env = await bench.env();
    // The users the binds need, each fresh (no number yet), logged in through the login bundle
    // so their rows and sessions are exactly what a login writes.
    const phoneUsers = WARMUP_BINDS / 2 + BINDS + 2 * COLD_CONTAINERS;
    log(`logging ${phoneUsers} fresh users in for the phone binds …`);
    const tokens = await logUsersIn(bench, phoneUsers, { fresh: true, tag: 'phone' });
    // What the phone route gets as requestContext.authorizer.lambda: the authorizer's own
    // answer for each phone user's session, as API Gateway passes it on.
    const authWorker = startWorker();
    await authWorker.send({ type: 'load', bundle: bundles.authorizer, env });
    const { contexts } = await authWorker.send<{ contexts: object[] }>({
      type: 'authorize',
      n: phoneUsers,
      tokens,
      route: { method: 'POST', path: '/user/phone' },
      keepContexts: true,
    });
    await authWorker.send({ type: 'exit' });

    // Each bind is a fresh user binding a number never bound before (the stub accepts each
    // phone code once); a rebinding replaces that user's number with another new one, and
    // frees the old.
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
    let before = upstream(stack);
    const firstBinds = await bind(phoneWorker, users.measured, 'first');
    let after = upstream(stack);
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

    const f = {
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
      phoneMaxRssMB: round(phoneRss.maxRssKB / 1024),
    };
    const calls = (u: typeof upstreamPerBind) => `WeChat ${u.wechat}, stable_token ${u.stableToken}, DynamoDB ${u.dynamodb}, Redis ${u.redis}`;
    const total = (counts: number[]) => counts.reduce((sum, n) => sum + n, 0);
    return {
      figures: f,
      runs: { warmupBinds: WARMUP_BINDS, binds: BINDS, coldContainers: COLD_CONTAINERS },
      report: [
        'Phone binding (phone bundle; each bind a fresh user, logged in through the login bundle, with the authorizer bundle\'s context)',
        `  first binding   p50 ${f.bindP50Ms} ms   p99 ${f.bindP99Ms} ms   CPU ${f.cpuMsPerBind} ms/bind`,
        `    per bind${threads(f.cpuMsPerBindByThread)}`,
        `  rebinding       p50 ${f.rebindP50Ms} ms   p99 ${f.rebindP99Ms} ms   CPU ${f.cpuMsPerRebind} ms/bind (frees the old number)`,
        `  warm-up, the worker's first ${WARMUP_BINDS} binds: CPU ${f.cpuMsPerBindWarmingUp} ms/bind`,
        `  upstream per first binding  ${calls(upstreamPerBind)}   (target 1, 0, ≤ 3, ≤ 2)`,
        `  upstream per rebinding      ${calls(upstreamPerRebind)}   (target 1, 0, 4, ≤ 2: the old number freed, and forgotten by the row)`,
        `  TCP connections opened over ${2 * BINDS} sequential binds: ${connectionsDuringBinds} (keep-alive reuse)`,
        `  stable_token calls, ${COLD_CONTAINERS} cold containers one after the other, one bind each (target ≤ 1 each)`,
        `    token left in Redis by the first   ${coldShared.stableTokenCalls.join(' ')}   (total ${total(coldShared.stableTokenCalls)}, target 1)`,
        `    Redis key deleted before each      ${coldEach.stableTokenCalls.join(' ')}   (total ${total(coldEach.stableTokenCalls)}, target ${COLD_CONTAINERS})`,
        `    a cold container's first bind: ${f.coldContainers.firstBindTokenFromRedisMs} ms with the token in Redis, ${f.coldContainers.firstBindTokenFetchedMs} ms fetching it`,
      ],
    };
  },
};
