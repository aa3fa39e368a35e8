import { SourceMap } from 'node:module';

/** A V8 CPU profile (Profiler.stop), the parts read here. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time, ms, and the part of it the process was busy (not idle, waiting for I/O). */
  totalMs: number;
  busyMs: number;
  /** Time spent in each module's own code (self time), ms, largest first. */
  byModule: { module: string; ms: number }[];
  /** Time with a module anywhere on the stack (inclusive), for this project's own files, ms. */
  underOwnFiles: { module: string; ms: number }[];
  /** The functions with the most self time: original name and place where the map has them. */
  topFunctions: { name: string; at: string; ms: number }[];
}

const SPECIAL = new Set(['(program)', '(garbage collector)', '(idle)', '(root)']);

/**
 * Groups a profile of a bundle by the source module each sample ran in, through the bundle's
 * source map: a package (`@smithy/core`), one of our files (`lib/adapters/http.ts`), a Node
 * builtin (`node:internal/modules`), or V8's own buckets (`(program)`: parsing and compiling
 * outside any function, `(garbage collector)`).
 */
export function summarizeProfile(profile: CpuProfile, bundleUrl: string, map: object): ProfileSummary {
  const sourceMap = new SourceMap(map as never);
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const placeOf = new Map<number, { module: string; name: string; at: string }>();
  const place = (id: number) => {
    let found = placeOf.get(id);
    if (found) return found;
    const { functionName, url, lineNumber, columnNumber } = nodes.get(id)!.callFrame;
    const name = functionName || '(anonymous)';
    if (SPECIAL.has(functionName)) found = { module: functionName, name, at: '' };
    else if (url === bundleUrl) {
      const entry = sourceMap.findEntry(lineNumber, columnNumber) as { originalSource?: string; originalLine?: number; name?: string };
      const source = entry.originalSource ?? '(bundle, unmapped)';
      // Sources are relative to wherever the bundle was built: keep the package, or our path.
      const file = source.includes('node_modules/')
        ? source.slice(source.lastIndexOf('node_modules/') + 'node_modules/'.length)
        : (/(?:^|\/)((?:lib|functions|local|bench)\/.*)$/.exec(source)?.[1] ?? source);
      const module = source.includes('node_modules/') ? file.split('/').slice(0, file.startsWith('@') ? 2 : 1).join('/') : file;
      found = { module, name: entry.name ?? name, at: `${file}:${(entry.originalLine ?? 0) + 1}` };
    } else if (url.startsWith('node:')) found = { module: url.split('/').slice(0, 2).join('/'), name, at: url };
    else if (!url) found = { module: '(V8 builtins and natives)', name, at: '' };
    else found = { module: '(bench harness)', name, at: url.slice(url.lastIndexOf('/') + 1) };
    placeOf.set(id, found);
    return found;
  };

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const functions = new Map<string, { name: string; at: string; ms: number }>();
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms);
  let totalMs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    const next = i + 1 < profile.samples.length ? at + (profile.timeDeltas[i + 1] ?? 0) : profile.endTime;
    const ms = Math.max(0, next - at) / 1000;
    totalMs += ms;
    const own = place(id);
    add(self, own.module, ms);
    const fn = functions.get(`${own.name}@${own.at}`) ?? { name: own.name, at: own.at, ms: 0 };
    fn.ms += ms;
    functions.set(`${own.name}@${own.at}`, fn);
    const seen = new Set<string>();
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
      const { module } = place(node);
      if ((module.startsWith('lib/') || module.startsWith('functions/')) && !seen.has(module)) {
        seen.add(module);
        add(inclusive, module, ms);
      }
    }
  });
  const sorted = (map: Map<string, number>) => [...map].map(([module, ms]) => ({ module, ms })).sort((a, b) => b.ms - a.ms);
  return {
    totalMs,
    busyMs: totalMs - (self.get('(idle)') ?? 0),
    byModule: sorted(self),
    underOwnFiles: sorted(inclusive),
    topFunctions: [...functions.values()].sort((a, b) => b.ms - a.ms).slice(0, 20),
  };
}

/** The summary as markdown: the heaviest modules, our own files inclusive, the heaviest functions. */
export function profileMarkdown(title: string, summary: ProfileSummary, rows = 15): string {
  const ms = (value: number) => value.toFixed(2);
  const share = (value: number) => `${((100 * value) / summary.busyMs).toFixed(1)}%`;
  return [
    `### ${title}: ${ms(summary.totalMs)} ms sampled, ${ms(summary.busyMs)} ms of it busy (shares are of that)`,
    '',
    '| module (self time) | ms | share |',
    '|---|---:|---:|',
    ...summary.byModule.filter((row) => row.module !== '(idle)').slice(0, rows).map((row) => `| ${row.module} | ${ms(row.ms)} | ${share(row.ms)} |`),
    '',
    '| our file on the stack (inclusive) | ms | share |',
    '|---|---:|---:|',
    ...summary.underOwnFiles.slice(0, rows).map((row) => `| ${row.module} | ${ms(row.ms)} | ${share(row.ms)} |`),
    '',
    '| function (self time) | at | ms |',
    '|---|---|---:|',
    ...summary.topFunctions.filter((row) => row.name !== '(idle)').slice(0, rows).map((row) => `| ${row.name} | ${row.at} | ${ms(row.ms)} |`),
    '',
  ].join('\n');
}
