/**
 * The two lazy stand-ins for modules of @smithy/core (issue 21, item 9c):
 * lib/adapters/sdk-crc32-lazy-zlib.ts for `Crc32Node` (node:zlib) and
 * lib/adapters/sdk-config-file-lazy-fs.ts for the config-file reader (node:fs/promises). What
 * they claim is a cold start's CPU: the builtin no longer loaded at the import. A DynamoDB
 * client made as lib/ makes it at initialisation (bench/dynamo-client-entry.ts: the login's whole
 * init, ~3 × the CPU, would bury a few ms in its noise), built as deployed, and with either or
 * both of the SDK's own modules put back; fresh processes with Lambda's flags (under which each
 * builtin is compiled from source), interleaved. Which builtins each import loads is read too.
 */
import { join } from 'node:path';
import { libraryFile } from '../library-parts';
import { buildLikeDeploy, coldImportsInterleaved, kb, log, median, pairedCpu, root, round, STAND_IN_RUNS, type Section } from '../shared';

const CRC32 = '@smithy/core/dist-es/submodules/checksum/crc32/Crc32Node.js';
const READ_FILE = '@smithy/core/dist-es/submodules/config/shared-ini-file-loader/readFile.js';

export const lazyBuiltinsSection: Section = {
  name: 'lazy-builtins',
  about: 'a DynamoDB client with the lazy zlib / fs stand-ins against the SDK\'s own modules: cold import CPU, builtins loaded',
  async run(bench) {
    const entry = join(root, 'bench', 'dynamo-client-entry.ts');
    const dir = join(bench.work, 'lazy-builtins');
    const bundles = {
      standIns: await buildLikeDeploy(entry, join(dir, 'stand-ins', 'dynamo.mjs')),
      sdkZlib: await buildLikeDeploy(entry, join(dir, 'sdk-zlib', 'dynamo.mjs'), [libraryFile(CRC32)]),
      sdkFs: await buildLikeDeploy(entry, join(dir, 'sdk-fs', 'dynamo.mjs'), [libraryFile(READ_FILE)]),
      sdkBoth: await buildLikeDeploy(entry, join(dir, 'sdk-both', 'dynamo.mjs'), [libraryFile(CRC32), libraryFile(READ_FILE)]),
    };
    log(`lazy builtins: ${STAND_IN_RUNS} fresh imports of a DynamoDB client per build (4 builds), interleaved …`);
    const runs = await coldImportsInterleaved(bundles, STAND_IN_RUNS);
    type Name = keyof typeof bundles;
    const names = Object.keys(bundles) as Name[];
    const of = <T>(pick: (name: Name) => T) => Object.fromEntries(names.map((name) => [name, pick(name)])) as Record<Name, T>;
    const watched = ['zlib', 'fs/promises'];
    const f = {
      lazyBuiltinsBundleKB: of((name) => kb(bundles[name])),
      lazyBuiltinsImportCpuMs: of((name) => round(median(runs[name].map((run) => run.cpuMs)), 2)),
      /** Of node:zlib and node:fs/promises, which the import loaded (the same in every process of a build). */
      lazyBuiltinsLoaded: of((name) => watched.filter((builtin) => runs[name][0]!.builtins.includes(builtin))),
      /** Each SDK module's build over the stand-ins', round by round. */
      lazyZlibSavedImportCpu: pairedCpu(runs.sdkZlib, runs.standIns),
      lazyFsSavedImportCpu: pairedCpu(runs.sdkFs, runs.standIns),
      lazyBothSavedImportCpu: pairedCpu(runs.sdkBoth, runs.standIns),
    };
    const label: Record<Name, string> = { standIns: 'both stand-ins (deployed)', sdkZlib: 'SDK Crc32Node', sdkFs: 'SDK readFile', sdkBoth: 'both SDK modules' };
    const saved = (s: ReturnType<typeof pairedCpu>) => `median ${s.medianMs} ms, dearer in ${s.dearerIn} of ${s.rounds} rounds`;
    return {
      figures: f,
      runs: { standInRuns: STAND_IN_RUNS },
      report: [
        'Lazy builtins (lib/adapters/sdk-crc32-lazy-zlib.ts, sdk-config-file-lazy-fs.ts) against the SDK\'s own modules, a DynamoDB client built as deployed',
        ...names.map(
          (name) =>
            `  ${label[name].padEnd(26)} ${String(f.lazyBuiltinsBundleKB[name]).padStart(6)} KB   import CPU ${f.lazyBuiltinsImportCpuMs[name]} ms   loads ${f.lazyBuiltinsLoaded[name].join(', ') || 'neither'}`,
        ),
        `  over the stand-ins, round by round (median of ${STAND_IN_RUNS} fresh processes each):`,
        `    SDK Crc32Node (node:zlib)       ${saved(f.lazyZlibSavedImportCpu)}`,
        `    SDK readFile (node:fs/promises) ${saved(f.lazyFsSavedImportCpu)}`,
        `    both                            ${saved(f.lazyBothSavedImportCpu)}`,
      ],
    };
  },
};
