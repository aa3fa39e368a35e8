/**
 * Cold logins: fresh processes (bench/cold-worker.mjs), each importing the login bundle and
 * answering its first logins, timed from the process's start, with the reference bundle's cold
 * import in the same kind of process between them; then fresh processes held to Lambda's CPU
 * share for the login's memory (memory/1769 of a vCPU) by a cgroup CPU quota, where the machine
 * lets us make one, to the first answer: wholly, and from the end of the import only (the init
 * burst that Lambda is reported to give its INIT phase). BENCH_PROFILE=cold adds profiles of one
 * more fresh process.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import JSZip from 'jszip';
import { profileMarkdown, summarizeProfile, type CpuProfile } from '../profile-summary';
import { lambdaFlags, LOG_LEVEL, log, median, NODE, nodeVersion, root, round, type Section } from '../shared';

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
/**
 * BENCH_PROFILE=cold: profiles of one more fresh login process (not in the figures): its start
 * through the import, its first login, and its next logins, into BENCH_PROFILE_DIR
 * (./bench-profile), with a summary by source module (through the bundle's source map)
 * printed and written beside them.
 */
const COLD_PROFILE_DIR = process.env.BENCH_PROFILE === 'cold' ? resolve(process.env.BENCH_PROFILE_DIR ?? 'bench-profile') : undefined;

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

export const coldLoginSection: Section = {
  name: 'cold-login',
  about: 'fresh login processes from their start to their first answers, against the reference\'s import, at Lambda\'s CPU share',
  async run(bench) {
    const bundles = await bench.bundles();
    const reference = await bench.reference();
    const env = await bench.env();
    // Lambda's CPU share for the login function: memory/1769 of a vCPU (AWS, "Configure Lambda
    // function memory"). BENCH_MEMORY_MB, if set, stands for the login's memory here too.
    const coldMemoryMB = await bench.coldMemoryMB();
    const cpuShare = Math.min(1, coldMemoryMB / 1769);

    // Fresh processes, the users (u0…u63) returning ones once the login section has run. Each
    // at full speed through its first COLD_LOGINS logins, then one under Lambda's CPU share to
    // its first answer.
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
      const zip = await JSZip.loadAsync(readFileSync(join(bench.work, 'artifacts', 'login.zip')));
      const mapFile = zip.file('functions/login.mjs.map');
      const map = mapFile ? JSON.parse(await mapFile.async('string')) : { version: 3, sources: [], names: [], mappings: '' };
      const summary = (name: string) => summarizeProfile(JSON.parse(readFileSync(join(COLD_PROFILE_DIR, `${name}.cpuprofile`), 'utf8')) as CpuProfile, pathToFileURL(bundles.login).href, map);
      coldProfile = [
        `## Cold login profile (${new Date().toISOString()}, ${nodeVersion()})`,
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

    // CPU from a fresh process's start to its first answer (the login), or to the end of its
    // import (the reference bundle, in the same kind of process, or in a `node -e` one: the
    // cold-import section's, when it ran).
    const coldToFirstAnswerCpu = median(coldLogins.map((run) => run.firstAnswerCpuMs));
    const referenceInWorkerCpu = median(coldReference.map((run) => run.firstAnswerCpuMs));
    const referenceBareCpu = bench.figures.referenceColdImportCpuFromStartMs as number | undefined;
    const steadyCpuPerLogin = bench.figures.cpuMsPerLogin as number | undefined;
    const firstLoginCpu = median(coldLogins.map((run) => run.firstLoginCpuMs));
    const f = {
      /**
       * A fresh container's first login: the median over the fresh processes, whose harness is
       * loaded and timed apart (bench/cold-worker.mjs). The login worker's own first login is
       * the login section's cpuMsFirstLoginInWorker.
       */
      cpuMsFirstLogin: round(firstLoginCpu, 3),
      /** Over the login section's steady state (null when it did not run). */
      firstLoginCpuRatio: steadyCpuPerLogin ? round(firstLoginCpu / steadyCpuPerLogin, 1) : null,
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
      /** The same over the reference's import in a `node -e` process (the cold-import section's referenceColdImportCpuFromStartMs), the way runs before this one compared them. */
      cpuColdToFirstAnswerVsReferenceImportBare: referenceBareCpu ? round(coldToFirstAnswerCpu / referenceBareCpu, 2) : null,
      coldToFirstAnswer: {
        nodeBootstrapCpuMs: round(median(coldLogins.map((run) => run.bootCpuMs))),
        importCpuMs: round(median(coldLogins.map((run) => run.importCpuMs))),
        firstLoginCpuMs: round(firstLoginCpu),
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
    };
    const c = f.coldToFirstAnswer;
    const r = f.referenceColdImportInWorker;
    const report = [
      `Cold login (median of ${COLD_LOGIN_RUNS} fresh processes, each from its start: Node's bootstrap, the import, init, logins)`,
      `  start to first answer  CPU ${f.cpuMsColdToFirstAnswer} ms (bootstrap ${c.nodeBootstrapCpuMs}, import and init ${c.importCpuMs}, first login ${c.firstLoginCpuMs}), wall ${c.wallMs} ms`,
      `  reference bundle, start to end of import in the same kind of process: CPU ${f.referenceColdImportCpuFromStartInWorkerMs} ms (bootstrap ${r.nodeBootstrapCpuMs}, import ${r.importCpuMs})`,
      `    → ${f.cpuColdToFirstAnswerVsReferenceImport} × the reference bundle's cold import from its start (target ≤ 1); ${f.cpuColdToFirstAnswerVsReferenceImportBare ?? '(no cold-import section)'} × its import in a \`node -e\` process (${referenceBareCpu ?? '–'} ms)`,
      `  logins 2–${COLD_LOGINS}: CPU ${f.cpuMsLogins2to100} ms/login`,
      `  first login's CPU ÷ steady state: ${f.firstLoginCpuRatio ?? '(no login section)'} (${f.cpuMsFirstLogin} ms, median of the fresh processes / ${steadyCpuPerLogin ?? '–'} ms; target ≤ 4)`,
      `  at Lambda's CPU share for ${coldMemoryMB} MB (${f.cpuShare} of a vCPU): start to first answer ${f.coldFirstAnswerMsAtLambdaCpu} ms${f.coldFirstAnswerMsAtLambdaCpuIsEstimate ? ' (ESTIMATE: CPU ÷ share; no CPU quota here)' : `, import ${f.coldImportMsAtLambdaCpu} ms (CPU ÷ share would say ${f.coldFirstAnswerMsAtLambdaCpuEstimate} ms)`}`,
      ...(coldInitBurst.length
        ? [`    with the import at full speed (an init burst) and the invocation at the share: ${f.coldFirstAnswerMsAtLambdaCpuInitBurst} ms, of which the first login ${f.coldFirstLoginMsAtLambdaCpu} ms`]
        : []),
      `    CPU share method: ${f.cpuShareMethod}`,
      ...(coldProfile ? [`  cold profile: ${COLD_PROFILE_DIR} (cold-profile-summary.md)`] : []),
    ];
    return { figures: f, runs: { coldLoginRuns: COLD_LOGIN_RUNS, coldLogins: COLD_LOGINS }, report, ...(coldProfile ? { appendix: coldProfile } : {}) };
  },
};
