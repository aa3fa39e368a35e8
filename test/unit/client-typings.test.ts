import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const TSC = join('node_modules', 'typescript', 'bin', 'tsc');

describe('client/wechat-auth.d.ts', () => {
  // test/types/miniprogram/app.ts is a page of a TypeScript mini-program: the global `wx` of
  // WeChat's official typings (miniprogram-api-typings) passed to createAuth as docs/client.md
  // wires it, every kit call, and a @ts-expect-error for wx.request's missing PATCH.
  it('typechecks a TypeScript mini-program against miniprogram-api-typings', async () => {
    const result = await promisify(execFile)(process.execPath, [TSC, '-p', join('test', 'types', 'miniprogram', 'tsconfig.json'), '--noEmit'], {
      encoding: 'utf8',
    }).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  }, 60_000);
});
