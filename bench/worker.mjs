// Runs a built Lambda bundle in its own process for the benchmark, so its CPU time and memory
// are the handler's alone (the local stack runs in the parent). Driven over IPC:
//   {type:'load', bundle, env}            import the bundle (a cold start), reply 'loaded'
//   {type:'login', n, concurrency, tag, profile?, fresh?, keepTokens?}
//                                         n logins, reply latencies, CPU µs (process and per
//                                         thread) and the last keepTokens (200) tokens; a CPU
//                                         profile to `profile`; `fresh`: each login a new user
//   {type:'authorize', n, tokens, route?, keepContexts?}
//                                         n authorizations (for `route`, GET /user/me unless
//                                         told), reply latencies and CPU µs, and with
//                                         keepContexts the context each one passed on
//   {type:'bind', n, contexts, firstNumber, tag}
//                                         n sequential phone bindings, the i-th as contexts[i]
//                                         to number firstNumber + i; reply as for logins
//   {type:'requests', events, expect}    the events in turn, each answered HTTP status `expect`
//   {type:'floor', url, n, client}        n × 4 bare keep-alive round trips (what a login makes)
//   {type:'dynamo', bundle, env, warmup, n, rounds}
//                                         a login's UpdateItem (the repository's recordLogin)
//                                         through lib's DynamoDB client and through one on the
//                                         SDK's NodeHttpHandler, `warmup` each, then n each in
//                                         interleaved rounds; reply CPU µs of each, in all and
//                                         by round
//   {type:'exit'}                         reply maxRSS and exit
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import inspector from 'node:inspector';
import { authorizerEvent, httpEvent, phoneEvent } from '../local/lambda-events.mjs';

let handler;
const agent = new http.Agent({ keepAlive: true });
const bareHttp = (url) =>
  new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end('["PING"]');
  });
const bareFetch = async (url) => (await fetch(url, { method: 'POST', body: '["PING"]' })).text();

const loginEvent = (code, i) =>
  httpEvent({
    method: 'POST',
    path: '/user/wechatlogin',
    body: JSON.stringify({ code }),
    requestId: `bench-${i}`,
    // A different client IP per login, so the per-IP rate limit stays out of the way.
    sourceIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    userAgent: 'bench',
  });

const context = { awsRequestId: 'bench', functionName: 'bench' };

/**
 * CPU time of this process's threads in µs, split into the main thread (where the handler's
 * JavaScript runs) and the rest (V8's helpers: optimising compiler, GC). Linux only (/proc),
 * at the kernel's clock-tick resolution; null elsewhere.
 */
function threadCpu() {
  try {
    const tick = 10_000; // USER_HZ is 100 on Linux
    let main = 0;
    let helpers = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const micros = (Number(fields[11]) + Number(fields[12])) * tick;
      if (Number(tid) === process.pid) main += micros;
      else helpers += micros;
    }
    return { main, helpers };
  } catch {
    return null;
  }
}

/** With BENCH_PROFILE set, a V8 CPU profile of the sequential logins is written there. */
async function profiled(path, run) {
  if (!path) return run();
  const session = new inspector.Session();
  session.connect();
  const post = (method, params = {}) => new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await post('Profiler.stop');
    writeFileSync(path, JSON.stringify(profile));
    session.disconnect();
  }
}

async function measure(n, concurrency, makeEvent, check) {
  const latencies = new Array(n);
  const results = new Array(n);
  let next = 0;
  const threadsStart = threadCpu();
  const cpuStart = process.cpuUsage();
  const runOne = async () => {
    for (let i = next++; i < n; i = next++) {
      const event = makeEvent(i);
      const started = performance.now();
      results[i] = await handler(event, context);
      latencies[i] = performance.now() - started;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, runOne));
  const cpu = process.cpuUsage(cpuStart);
  const threadsEnd = threadCpu();
  results.forEach(check);
  const threads = threadsStart && threadsEnd ? { main: threadsEnd.main - threadsStart.main, helpers: threadsEnd.helpers - threadsStart.helpers } : null;
  return { latencies, cpuMicros: cpu.user + cpu.system, threads, results };
}

process.on('message', async (msg) => {
  try {
    if (msg.type === 'load') {
      Object.assign(process.env, msg.env);
      ({ handler } = await import(msg.bundle));
      process.send({ type: 'loaded' });
    } else if (msg.type === 'login') {
      const { latencies, cpuMicros, threads, results } = await profiled(msg.profile, () =>
        measure(
          msg.n,
          msg.concurrency,
          // 64 returning users, as a warm login mostly is; `fresh` makes every login a new
          // user (the stub's NAME), for binds that each need a user with no number yet.
          (i) => loginEvent(msg.fresh ? `${msg.tag}-${i}` : `u${i % 64}.${msg.tag}-${i}`, i),
          (r) => {
            if (r.statusCode !== 200) throw new Error(`login answered ${r.statusCode}: ${r.body}`);
          },
        ),
      );
      // The last keepTokens: each user's latest sessions, which the per-user cap (MAX_SESSIONS_PER_USER) keeps.
      const tokens = results.slice(-(msg.keepTokens ?? 200)).map((r) => JSON.parse(r.body).token);
      process.send({ type: 'done', latencies, cpuMicros, threads, tokens });
    } else if (msg.type === 'authorize') {
      const { latencies, cpuMicros, results } = await measure(
        msg.n,
        msg.concurrency ?? 1,
        (i) => authorizerEvent(msg.tokens[i % msg.tokens.length], `bench-authz-${i}`, msg.route),
        (r) => {
          if (!r.isAuthorized) throw new Error('a live token was refused');
        },
      );
      process.send({ type: 'done', latencies, cpuMicros, ...(msg.keepContexts ? { contexts: results.map((r) => r.context) } : {}) });
    } else if (msg.type === 'bind') {
      const { latencies, cpuMicros, threads } = await measure(
        msg.n,
        1,
        // A phone code the stub accepts once: the number, then a suffix that makes it unique.
        (i) => phoneEvent({ code: `${msg.firstNumber + i}.${msg.tag}-${i}`, authorizer: msg.contexts[i], requestId: `bench-phone-${msg.tag}-${i}`, userAgent: 'bench' }),
        (r, i) => {
          const bound = r.statusCode === 200 ? JSON.parse(r.body).purePhoneNumber : undefined;
          if (bound !== String(msg.firstNumber + i)) throw new Error(`bind answered ${r.statusCode}: ${r.body}`);
        },
      );
      process.send({ type: 'done', latencies, cpuMicros, threads });
    } else if (msg.type === 'requests') {
      // Prebuilt HTTP API events (the open-data route's: its body and its token's header), each
      // answered `expect`.
      const { latencies, cpuMicros, threads } = await measure(
        msg.events.length,
        1,
        (i) => msg.events[i],
        (r) => {
          if (r.statusCode !== msg.expect) throw new Error(`answered ${r.statusCode}: ${r.body}`);
        },
      );
      process.send({ type: 'done', latencies, cpuMicros, threads });
    } else if (msg.type === 'floor') {
      const call = msg.client === 'fetch' ? bareFetch : bareHttp;
      for (let i = 0; i < 400; i++) await call(msg.url);
      const start = process.cpuUsage();
      for (let i = 0; i < msg.n; i++) for (let j = 0; j < 4; j++) await call(msg.url);
      const cpu = process.cpuUsage(start);
      process.send({ type: 'done', cpuMicros: cpu.user + cpu.system });
    } else if (msg.type === 'dynamo') {
      process.send({ type: 'done', ...(await compareDynamoHandlers(msg)) });
    } else if (msg.type === 'exit') {
      process.send({ type: 'done', maxRssKB: process.resourceUsage().maxRSS });
      process.exit(0);
    }
  } catch (err) {
    process.send({ type: 'error', message: String(err?.stack ?? err) });
  }
});

/**
 * CPU per UpdateItem with lib's request handler and with the SDK's NodeHttpHandler (its
 * middleware cached and its sockets kept alive, as lib's are), against the same table. Both in
 * this one process, in alternating rounds (A B, B A, …), so both see the same noise.
 */
async function compareDynamoHandlers({ bundle, env, warmup, n, rounds }) {
  Object.assign(process.env, env);
  const m = await import(bundle);
  const config = m.loadDynamoConfig(process.env);
  const usersTable = m.loadUsersTable(process.env);
  const sdkClient = new m.DynamoDBClient({
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    maxAttempts: 2,
    cacheMiddleware: true,
    requestHandler: new m.NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true }),
      httpsAgent: new https.Agent({ keepAlive: true }),
      connectionTimeout: config.timeoutMs,
      requestTimeout: config.timeoutMs,
    }),
  });
  const variants = {
    custom: new m.DynamoUserRepository(m.createDynamoClient(config), usersTable),
    sdk: new m.DynamoUserRepository(sdkClient, usersTable),
  };
  const cpu = { custom: 0, sdk: 0 };
  let op = 0;
  const run = async (name, count) => {
    const start = process.cpuUsage();
    for (let i = 0; i < count; i++, op++) {
      await variants[name].recordLogin({ openid: `ddb-bench-${op % 64}`, newUserId: `ddb-user-${op % 64}`, loginId: `ddb-${name}-${op}`, now: new Date() });
    }
    const used = process.cpuUsage(start);
    return used.user + used.system;
  };
  await run('custom', warmup);
  await run('sdk', warmup);
  const perRound = Math.ceil(n / rounds);
  const byRound = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? ['sdk', 'custom'] : ['custom', 'sdk'];
    const round = {};
    for (const name of order) cpu[name] += round[name] = await run(name, perRound);
    byRound.push(round);
  }
  return { cpuMicros: cpu, n: perRound * rounds, perRound, byRound };
}
