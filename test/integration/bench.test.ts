import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../local/package-functions';
import { exited, runScript } from '../support/dev-server';

/**
 * `npm run bench` end to end, with small counts: it builds the functions, drives the built
 * bundles against the local stack and reports. The timings it prints are not asserted (they
 * are docs/performance.md's business); what is asserted is that the report is whole and that the
 * round trips counted at the stubs are exactly what a login, an authorization and a phone
 * binding may make, and that cold containers share one access token through Redis.
 */
describe('npm run bench (integration)', () => {
  const profileDir = mkdtempSync(join(tmpdir(), 'wxlogin-bench-profile-'));
  afterAll(() => rmSync(profileDir, { recursive: true, force: true }));

  it('prints a whole report whose last line is JSON, with the exact upstream counts', async () => {
    const bench = runScript('bench/run.ts', {
      BENCH_COLD_RUNS: '1',
      BENCH_WARMUP_LOGINS: '20',
      BENCH_LOGINS: '30',
      BENCH_CONCURRENT_LOGINS: '32',
      BENCH_AUTHORIZATIONS: '30',
      BENCH_WARMUP_BINDS: '10',
      BENCH_BINDS: '20',
      BENCH_COLD_CONTAINERS: '3',
      BENCH_OPENDATA_USERS: '10',
      BENCH_COLD_LOGIN_RUNS: '2',
      BENCH_COLD_LOGINS: '5',
      BENCH_DYNAMO_WARMUP: '20',
      BENCH_DYNAMO_UPDATES: '60',
      BENCH_STAND_IN_RUNS: '1',
      BENCH_BASELINE_ROUNDS: '2',
      BENCH_BASELINE_LOGINS: '10',
      BENCH_PROFILE: 'cold',
      BENCH_PROFILE_DIR: profileDir,
    });
    const code = await exited(bench.child);
    expect(code, bench.output()).toBe(0);

    const lines = bench.output().trim().split('\n');
    const result = JSON.parse(lines.at(-1)!);
    for (const key of [
      'coldImportMs',
      'referenceColdImportMs',
      'coldImportRatio',
      'bundleKB',
      'loginP50Ms',
      'loginP99Ms',
      'loginConcurrency16P50Ms',
      'loginConcurrency16P99Ms',
      'cpuMsPerLogin',
      'authorizeP50Ms',
      'maxRssMB',
      'phoneColdImportMs',
      'bindP50Ms',
      'bindP99Ms',
      'cpuMsPerBind',
      'rebindP50Ms',
      'rebindP99Ms',
      'cpuMsPerRebind',
      'phoneMaxRssMB',
      'firstLoginCpuRatio',
      'cpuMsColdToFirstAnswer',
      'cpuColdToFirstAnswerVsReferenceImport',
      'referenceColdImportCpuMs',
      'referenceColdImportCpuFromStartMs',
      'referenceColdImportCpuFromStartInWorkerMs',
      'cpuColdToFirstAnswerVsReferenceImportBare',
      'cpuMsLogins2to100',
      'coldFirstAnswerMsAtLambdaCpu',
      'coldFirstAnswerMsAtLambdaCpuEstimate',
      'dynamoCpuMsPerUpdateCustom',
      'dynamoCpuMsPerUpdateSdk',
      'lruSavedKB',
    ]) {
      expect(result[key], key).toBeGreaterThan(0);
    }
    // A fresh process's start to its first answer, in its parts.
    for (const part of ['nodeBootstrapCpuMs', 'importCpuMs', 'firstLoginCpuMs', 'wallMs', 'firstLoginWallMs']) {
      expect(result.coldToFirstAnswer[part], part).toBeGreaterThan(0);
    }
    // The reference's cold import, timed in the same kind of process as the cold logins.
    for (const part of ['nodeBootstrapCpuMs', 'importCpuMs']) expect(result.referenceColdImportInWorker[part], part).toBeGreaterThan(0);
    // Lambda's share for the login's memory in the packaged template (512 MB), and how it was applied.
    expect(result.cpuShareMemoryMB).toBe(512);
    expect(result.cpuShare).toBeCloseTo(512 / 1769, 3);
    expect(result.cpuShareMethod).toMatch(/^(cgroup v2 cpu\.max|cgroup v1 cpu\.cfs_quota_us), period \d+ ms$|^unavailable: ./);
    expect(result.coldFirstAnswerMsAtLambdaCpuIsEstimate).toBe(result.cpuShareMethod.startsWith('unavailable'));
    if (result.coldFirstAnswerMsAtLambdaCpuIsEstimate) expect(result.coldFirstAnswerMsAtLambdaCpuInitBurst).toBeNull();
    else expect(result.coldFirstAnswerMsAtLambdaCpuInitBurst).toBeGreaterThan(0);
    // Each DynamoDB handler keeps one socket alive for all its sequential UpdateItems.
    expect(result.dynamoConnectionsOpenedByHandlers).toBe(2);
    expect(Object.keys(result.bundlesKB)).toEqual(expect.arrayContaining([...FUNCTIONS]));
    expect(result.upstreamPerLogin).toEqual({ wechat: 1, dynamodb: 1, redis: 2 });
    expect(result.upstreamPerAuthorize).toEqual({ wechat: 0, dynamodb: 0, redis: 1 });
    // A read of open data: the sealed key from Redis, no WeChat (the data decrypts), no DynamoDB.
    expect(result.upstreamPerOpendata).toEqual({ checksession: 0, dynamodb: 0, redis: 1 });
    expect(result.cpuMsPerOpendata).toBeGreaterThan(0);
    expect(result.connectionsOpenedDuringLogins).toBe(0);
    // A warm bind: getuserphonenumber once, no stable_token; the claim and the row (and, on a
    // rebinding, freeing the old number and clearing the row's memory of it); the code's lookup
    // with the limit, and its result kept.
    expect(result.upstreamPerBind).toEqual({ wechat: 1, stableToken: 0, dynamodb: 2, redis: 2 });
    expect(result.upstreamPerRebind).toEqual({ wechat: 1, stableToken: 0, dynamodb: 4, redis: 2 });
    expect(result.connectionsOpenedDuringBinds).toBe(0);
    // Only the first cold container asks stable_token while the token is in Redis; each asks once when it is not.
    expect(result.coldContainers.stableTokenCallsSharedRedis).toEqual([1, 0, 0]);
    expect(result.coldContainers.stableTokenCallsKeyDeletedEach).toEqual([1, 1, 1]);
    expect(result.bundlesKB.phone).toBeGreaterThan(0);
    expect(result.bundlesKB.authorizer).toBeLessThan(result.bundleKB / 2);
    // The stand-ins against the library parts they replace: each build's figures, and which
    // builtins the login's import loads with the SDK's own modules (zlib, fs/promises) and without.
    expect(result.lruLoginBundleKB.library).toBeGreaterThan(result.lruLoginBundleKB.standIn);
    expect(result.lazyBuiltinsLoaded).toEqual({ standIns: [], sdkZlib: ['zlib'], sdkFs: ['fs/promises'], sdkBoth: ['zlib', 'fs/promises'] });
    expect(result.sections).toEqual(['cold-import', 'login', 'cold-login', 'baseline', 'dynamo-handler', 'authorize', 'phone', 'opendata', 'lru', 'lazy-builtins']);
    // This release's login against the previous release's, both measured (or skipped, said so, in a shallow clone).
    if (result.cpuMsPerLoginPrevious !== null) {
      expect(result.cpuMsPerLoginPrevious).toBeGreaterThan(0);
      expect(result.cpuRatioToPrevious).toBeCloseTo(result.cpuMsPerLoginThis / result.cpuMsPerLoginPrevious, 1);
      expect(lines.join('\n')).toContain("Baseline (this release's login against 599e982's");
      expect(result.runs).toMatchObject({ baselineRounds: 2, baselineLoginsPerRound: 10 });
    }
    expect(result.runs).toMatchObject({ cold: 1, warmupLogins: 20, logins: 30, concurrentLogins: 32, authorizations: 30, warmupBinds: 10, binds: 20, coldContainers: 3, coldLoginRuns: 2, coldLogins: 5, dynamoUpdates: 60 });
    expect(lines.join('\n')).toContain('Cold import (median of fresh processes; a bundle\'s import awaits its initialisation');
    expect(lines.join('\n')).toContain('Cold login (median of 2 fresh processes');
    expect(lines.join('\n')).toContain('Phone binding');
    // BENCH_PROFILE=cold: the three profiles of a fresh process and their summary by module.
    for (const name of ['cold-import', 'cold-first-login', 'cold-logins-2-5']) expect(existsSync(join(profileDir, `${name}.cpuprofile`)), name).toBe(true);
    const summary = readFileSync(join(profileDir, 'cold-profile-summary.md'), 'utf8');
    expect(summary).toContain('### The first login');
    expect(summary).toMatch(/\| @smithy\/core \| [\d.]+ \|/);
    expect(lines.join('\n')).toContain('## Cold login profile');
  }, 180_000);

  it('runs one section with --only: its figures alone, without packaging the functions or starting the stack', async () => {
    const bench = runScript('bench/run.ts', { BENCH_STAND_IN_RUNS: '1' }, ['--only', 'lru']);
    const code = await exited(bench.child);
    expect(code, bench.output()).toBe(0);
    const output = bench.output();
    const result = JSON.parse(output.trim().split('\n').at(-1)!);
    expect(result.sections).toEqual(['lru']);
    expect(result.lruSavedKB).toBeGreaterThan(0);
    expect(result.lruSavedImportCpu).toMatchObject({ rounds: 1 });
    expect(result).not.toHaveProperty('cpuMsPerLogin');
    expect(output).not.toContain('serverless package');
    expect(output).not.toContain('local stack');
  }, 60_000);

  it('refuses an unknown section in one line that lists the valid ones, with a non-zero exit', async () => {
    const bench = runScript('bench/run.ts', {}, ['--only', 'nope']);
    const code = await exited(bench.child);
    expect(code).not.toBe(0);
    const lines = bench.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/unknown section "nope"/);
    for (const name of ['cold-import', 'login', 'cold-login', 'dynamo-handler', 'authorize', 'phone', 'lru', 'lazy-builtins']) expect(lines[0]).toContain(name);
  });
});
