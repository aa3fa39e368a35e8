// A fresh process for the benchmark's cold path (bench/sections/cold-login.ts): everything a new Lambda
// container does before and during its first logins, timed from this process's start.
//
//   node cold-worker.mjs <bundle> <logins> <tag> <firstIp> [profileDir]
//
// With logins 0, it imports the bundle and stops there: the reference bundle's cold import is
// timed in the same kind of process (same entry, same flags) as the login's cold start.
//
// Imports the login bundle (as Lambda loads an .mjs handler), answers `logins` sequential
// logins (returning users, as bench/worker.mjs sends them, the i-th from client IP number
// firstIp + i, so processes that share one per-IP login limit stay under it), and writes one
// JSON line to fd 3:
// CPU and wall time at each mark, counted from the process's start. With profileDir, V8 CPU
// profiles are written there: the start through the import (cold-import), the first login
// (cold-first-login) and the logins after it (cold-logins-2-N). Saving them takes time the
// marks then count: a profiled process's figures are for reading beside its profile only.
//
// The marks are taken before anything else is loaded: the static imports of an ES module run
// before its first line, so this file has none, and the harness's own loading (the event
// builder) is timed and reported apart, for the parent to take out.

// CPU since the process started (Node's bootstrap), and ms since its time origin (its start).
const boot = { cpu: process.cpuUsage(), wall: performance.now() };
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const mark = () => ({ cpuMs: cpuMs(), wallMs: performance.now() });

const [bundle, loginsArg, tag, firstIpArg, profileDir] = process.argv.slice(2);
const logins = Number(loginsArg);
const firstIp = Number(firstIpArg);

const profiler = profileDir ? await startProfiler() : undefined;
const harnessStart = mark();
const { httpEvent } = await import('../local/lambda-events.mjs');
const { writeSync } = process.getBuiltinModule('node:fs');
const harness = mark();

// A CommonJS bundle (the reference) is loaded with require(), as Lambda loads a CommonJS
// handler; an ES module one with import().
const { handler } = bundle.endsWith('.cjs') ? process.getBuiltinModule('node:module').createRequire(import.meta.url)(bundle) : await import(bundle);
const imported = mark();
if (profiler) await profiler.save('cold-import');
// BENCH_INVOKE_CGROUP: Lambda's init burst, emulated. The import (Lambda's INIT phase) ran at
// full speed; from here on (the invocations) the process is held to the cgroup's quota.
if (process.env.BENCH_INVOKE_CGROUP) process.getBuiltinModule('node:fs').writeFileSync(process.env.BENCH_INVOKE_CGROUP, String(process.pid));

const loginEvent = (i) => {
  const ip = firstIp + i;
  return httpEvent({
    method: 'POST',
    path: '/user/wechatlogin',
    // A returning user (one of the 64 the login worker made), a code never used before.
    body: JSON.stringify({ code: `u${i % 64}.${tag}-${i}` }),
    requestId: `bench-${tag}-${i}`,
    sourceIp: `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`,
    userAgent: 'bench',
  });
};
const context = { awsRequestId: 'bench', functionName: 'bench' };
const login = async (i) => {
  const r = await handler(loginEvent(i), context);
  if (r.statusCode !== 200) throw new Error(`login answered ${r.statusCode}: ${r.body}`);
};

// logins 0: the import alone (the reference bundle, which has no handler), timed as the rest.
if (logins > 0) await login(0);
const firstAnswer = mark();
if (profiler) await profiler.save('cold-first-login');
for (let i = 1; i < logins; i++) await login(i);
const last = mark();
if (profiler) await profiler.save(`cold-logins-2-${logins}`, false);

const harnessCpuMs = harness.cpuMs - harnessStart.cpuMs;
writeSync(
  3,
  `${JSON.stringify({
    bootCpuMs: (boot.cpu.user + boot.cpu.system) / 1000,
    bootWallMs: boot.wall,
    harnessCpuMs,
    importCpuMs: imported.cpuMs - harness.cpuMs,
    importWallMs: imported.wallMs - harness.wallMs,
    firstLoginCpuMs: firstAnswer.cpuMs - imported.cpuMs,
    firstLoginWallMs: firstAnswer.wallMs - imported.wallMs,
    // From the process's start, without the harness's own loading.
    firstAnswerCpuMs: firstAnswer.cpuMs - harnessCpuMs,
    firstAnswerWallMs: firstAnswer.wallMs - (harness.wallMs - harnessStart.wallMs),
    laterLogins: Math.max(0, logins - 1),
    laterLoginsCpuMs: last.cpuMs - firstAnswer.cpuMs,
    profiled: Boolean(profiler),
  })}\n`,
);
process.exit(0);

/**
 * A V8 CPU profiler at a fine interval (the cold path is tens of ms: the default 1 ms would give
 * a few dozen samples). `save` writes what was sampled since the last save, and starts again
 * unless told not to.
 */
async function startProfiler() {
  const inspector = process.getBuiltinModule('node:inspector');
  const { writeFileSync } = process.getBuiltinModule('node:fs');
  const { join } = process.getBuiltinModule('node:path');
  const session = new inspector.Session();
  session.connect();
  const post = (method, params = {}) => new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 50 });
  await post('Profiler.start');
  return {
    async save(name, again = true) {
      const { profile } = await post('Profiler.stop');
      writeFileSync(join(profileDir, `${name}.cpuprofile`), JSON.stringify(profile));
      if (again) await post('Profiler.start');
    },
  };
}
