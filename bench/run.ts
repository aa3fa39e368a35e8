/**
 * `npm run bench`: how fast the service starts, how little a login costs on top of WeChat, and
 * whether each hand-written stand-in for a library part still earns its place.
 *
 *   npm run bench                          every section, in the order below
 *   npm run bench -- --only <section>[,…]  those sections alone (a stand-in's in seconds)
 *
 * One module per section (bench/sections/), over what they share (bench/shared.ts): the
 * functions built as a deploy builds them (`serverless package`), the local stack, and worker
 * processes that run the built bundles with Lambda's Node flags, so CPU time and memory are the
 * handler's alone. Each is made once, when a section first needs it.
 *
 * Prints a readable report, then one JSON line (the last line) with the figures. A figure that
 * relates two sections (the first login over the steady state) is null when one did not run.
 * Nothing here asserts: docs/performance.md records the figures and the targets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authorizeSection } from './sections/authorize';
import { baselineSection } from './sections/baseline';
import { coldImportSection } from './sections/cold-import';
import { coldLoginSection } from './sections/cold-login';
import { dynamoHandlerSection } from './sections/dynamo-handler';
import { lazyBuiltinsSection } from './sections/lazy-builtins';
import { loginSection } from './sections/login';
import { lruSection } from './sections/lru';
import { opendataSection } from './sections/opendata';
import { phoneSection } from './sections/phone';
import { createBench, LAMBDA_FLAGS, log, MEMORY_MB, nodeVersion, type Section, type SectionResult } from './shared';

/** In the order they run: the cold imports first, on a machine the stack does not load yet. */
const SECTIONS: Section[] = [coldImportSection, loginSection, coldLoginSection, baselineSection, dynamoHandlerSection, authorizeSection, phoneSection, opendataSection, lruSection, lazyBuiltinsSection];
/** The order of the report: what a deploy ships, its cold start, then the warm figures. */
const REPORT_ORDER = ['cold-import', 'cold-login', 'login', 'baseline', 'dynamo-handler', 'authorize', 'phone', 'opendata', 'lru', 'lazy-builtins'];

const names = SECTIONS.map((section) => section.name);
const usage = `usage: npm run bench [-- --only <section>[,<section>…]]   sections: ${names.join(', ')}`;

/** The sections asked for, or a one-line complaint and exit 2. */
function chosen(args: string[]): Section[] {
  const fail = (message: string): never => {
    process.stderr.write(`bench: ${message}. ${usage}\n`);
    process.exit(2);
  };
  if (args.length === 0) return SECTIONS;
  if (args[0] === '--help' || args[0] === '-h') {
    process.stdout.write(`${usage}\n${SECTIONS.map((s) => `  ${s.name.padEnd(15)} ${s.about}`).join('\n')}\n`);
    process.exit(0);
  }
  const value = args[0] === '--only' ? args[1] : args[0]?.startsWith('--only=') ? args[0].slice('--only='.length) : fail(`unknown option ${JSON.stringify(args[0])}`);
  const rest = args.slice(args[0] === '--only' ? 2 : 1);
  if (!value) fail('--only needs a section name');
  if (rest.length) fail(`unexpected ${JSON.stringify(rest[0])}`);
  const wanted = value!.split(',');
  const unknown = wanted.filter((name) => !names.includes(name));
  if (unknown.length) fail(`unknown section ${unknown.map((name) => JSON.stringify(name)).join(', ')}`);
  return SECTIONS.filter((section) => wanted.includes(section.name));
}

const sections = chosen(process.argv.slice(2));

// The SDK's notice that it will soon need Node 22 is about this machine, not about Lambda's
// runtime (nodejs22.x); keep it out of the report.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const work = mkdtempSync(join(tmpdir(), 'wxlogin-bench-'));
const bench = createBench(work);
try {
  const results = new Map<string, SectionResult>();
  const runs: Record<string, number> = {};
  for (const section of sections) {
    const result = await section.run(bench);
    results.set(section.name, result);
    Object.assign(bench.figures, result.figures);
    Object.assign(runs, result.runs);
  }
  for (const name of REPORT_ORDER) {
    const result = results.get(name);
    if (!result) continue;
    log();
    for (const line of result.report) log(line);
  }
  const f = bench.figures;
  const rss = [
    f.maxRssMB !== undefined && `login worker max RSS ${f.maxRssMB} MB (target ≤ 128)`,
    f.authorizerMaxRssMB !== undefined && `authorizer ${f.authorizerMaxRssMB} MB`,
    f.phoneMaxRssMB !== undefined && `phone ${f.phoneMaxRssMB} MB`,
  ].filter(Boolean);
  if (rss.length) {
    log();
    log(`Memory  ${rss.join(', ')}`);
    log(`        (workers run with Lambda's Node flags for ${MEMORY_MB} MB: ${LAMBDA_FLAGS.join(' ')})`);
  }
  for (const result of results.values()) {
    if (!result.appendix) continue;
    log();
    log(result.appendix);
  }
  log();
  log(JSON.stringify({ ...f, sections: sections.map((section) => section.name), memoryMB: MEMORY_MB, node: nodeVersion(), runs }));
} finally {
  await bench.close();
  // Whatever failed (the build, a cold import, the stack), the private work folder goes.
  rmSync(work, { recursive: true, force: true });
}
