/**
 * This release's login against the previous one's, in the same run on the same stack: each
 * built from its sources the one way (buildLikeDeploy; the previous release's taken from git), each in a worker
 * of its own, warmed up alike, then measured in alternating rounds, so that a slower moment of
 * the machine falls on both. The figure is CPU per warm returning login, and its ratio.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { extractRelease, hasRelease, PREVIOUS_RELEASE } from '../../local/previous-release';
import { buildLikeDeploy, log, percentile, root, round, startWorker, WARMUP_LOGINS, type LoginRun, type Section } from '../shared';

const ROUNDS = Number(process.env.BENCH_BASELINE_ROUNDS ?? 6);
const LOGINS_PER_ROUND = Number(process.env.BENCH_BASELINE_LOGINS ?? 400);

export const baselineSection: Section = {
  name: 'baseline',
  about: `this release's warm login against the previous release's (${PREVIOUS_RELEASE.slice(0, 7)}), in alternating rounds: CPU per login and its ratio`,
  async run(bench) {
    if (!hasRelease()) {
      log(`baseline: this clone does not hold ${PREVIOUS_RELEASE} (a shallow clone?): skipped`);
      return { figures: { cpuMsPerLoginPrevious: null, cpuMsPerLoginThis: null, cpuRatioToPrevious: null }, report: ['Baseline: skipped, the previous release is not in this clone'] };
    }
    const folder = join(bench.work, 'previous-release');
    mkdirSync(folder, { recursive: true });
    log(`building the previous release's login (${PREVIOUS_RELEASE.slice(0, 7)}) as a deploy does …`);
    // Both built the one way, so that only the sources differ.
    const previousBundle = await buildLikeDeploy(join(extractRelease(folder), 'functions', 'login.ts'), join(bench.work, 'previous-login.mjs'));
    const thisBundle = await buildLikeDeploy(join(root, 'functions', 'login.ts'), join(bench.work, 'this-login.mjs'));
    const env = await bench.env();
    const workers = { previous: startWorker(), this: startWorker() };
    await workers.previous.send({ type: 'load', bundle: previousBundle, env });
    await workers.this.send({ type: 'load', bundle: thisBundle, env });
    log(`warming both up with ${WARMUP_LOGINS} logins each, then ${ROUNDS} alternating rounds of ${LOGINS_PER_ROUND} …`);
    for (const [name, worker] of Object.entries(workers)) await worker.send<LoginRun>({ type: 'login', n: WARMUP_LOGINS, concurrency: 1, tag: `base-warm-${name}` });
    const totals = { previous: { cpuMicros: 0, latencies: [] as number[] }, this: { cpuMicros: 0, latencies: [] as number[] } };
    for (let r = 0; r < ROUNDS; r++) {
      // Which goes first alternates too.
      const order = r % 2 === 0 ? (['previous', 'this'] as const) : (['this', 'previous'] as const);
      for (const name of order) {
        const run = await workers[name].send<LoginRun>({ type: 'login', n: LOGINS_PER_ROUND, concurrency: 1, tag: `base-${name}-${r}` });
        totals[name].cpuMicros += run.cpuMicros;
        totals[name].latencies.push(...run.latencies);
      }
    }
    for (const worker of Object.values(workers)) await worker.send({ type: 'exit' });
    const logins = ROUNDS * LOGINS_PER_ROUND;
    const f = {
      cpuMsPerLoginPrevious: round(totals.previous.cpuMicros / 1000 / logins, 3),
      cpuMsPerLoginThis: round(totals.this.cpuMicros / 1000 / logins, 3),
      cpuRatioToPrevious: round(totals.this.cpuMicros / totals.previous.cpuMicros, 3),
      loginP50MsPrevious: round(percentile(totals.previous.latencies, 50), 2),
      loginP50MsThis: round(percentile(totals.this.latencies, 50), 2),
    };
    return {
      figures: f,
      runs: { baselineRounds: ROUNDS, baselineLoginsPerRound: LOGINS_PER_ROUND },
      report: [
        `Baseline (this release's login against ${PREVIOUS_RELEASE.slice(0, 7)}'s, warm returning logins, alternating rounds)`,
        `  CPU per login  previous ${f.cpuMsPerLoginPrevious} ms   this ${f.cpuMsPerLoginThis} ms   ratio ${f.cpuRatioToPrevious}`,
        `  p50            previous ${f.loginP50MsPrevious} ms   this ${f.loginP50MsThis} ms`,
      ],
    };
  },
};
