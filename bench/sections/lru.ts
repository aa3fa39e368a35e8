/**
 * The stand-in for mnemonist's LRU cache (lib/adapters/endpoint-cache-lru.ts; issue 21, item
 * 9b), against mnemonist's own: the login built as deployed, and built with mnemonist/lru-cache
 * where the deploy puts the stand-in. What the stand-in claims is bundle size; what a size
 * costs is its load, so each build's cold import is timed too (fresh processes, interleaved).
 */
import { join } from 'node:path';
import { libraryModule } from '../library-parts';
import { buildLikeDeploy, coldImportsInterleaved, kb, log, median, pairedCpu, root, round, STAND_IN_RUNS, type Section } from '../shared';


export const lruSection: Section = {
  name: 'lru',
  about: 'the login bundle with the LRU stand-in against mnemonist/lru-cache: size and cold import CPU',
  async run(bench) {
    const entry = join(root, 'functions', 'login.ts');
    const dir = join(bench.work, 'lru');
    const bundles = {
      standIn: await buildLikeDeploy(entry, join(dir, 'stand-in', 'login.mjs')),
      library: await buildLikeDeploy(entry, join(dir, 'library', 'login.mjs'), [libraryModule('mnemonist/lru-cache')]),
    };
    log(`LRU stand-in: ${STAND_IN_RUNS} fresh imports of the login per build, interleaved …`);
    const runs = await coldImportsInterleaved(bundles, STAND_IN_RUNS);
    const cpu = (name: keyof typeof bundles) => round(median(runs[name].map((run) => run.cpuMs)), 2);
    const f = {
      lruLoginBundleKB: { standIn: kb(bundles.standIn), library: kb(bundles.library) },
      lruSavedKB: round(kb(bundles.library) - kb(bundles.standIn)),
      lruImportCpuMs: { standIn: cpu('standIn'), library: cpu('library') },
      /** The library's build over the stand-in's, round by round. */
      lruSavedImportCpu: pairedCpu(runs.library, runs.standIn),
    };
    const s = f.lruSavedImportCpu;
    return {
      figures: f,
      runs: { standInRuns: STAND_IN_RUNS },
      report: [
        'LRU stand-in (lib/adapters/endpoint-cache-lru.ts) against mnemonist/lru-cache, the login built as deployed',
        `  bundle     stand-in ${f.lruLoginBundleKB.standIn} KB   mnemonist ${f.lruLoginBundleKB.library} KB   (${f.lruSavedKB} KB less)`,
        `  import CPU stand-in ${f.lruImportCpuMs.standIn} ms   mnemonist ${f.lruImportCpuMs.library} ms   (median of ${STAND_IN_RUNS} fresh processes each)`,
        `    mnemonist's over the stand-in's, round by round: median ${s.medianMs} ms, dearer in ${s.dearerIn} of ${s.rounds} rounds`,
      ],
    };
  },
};
