import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Crc32Js, Crc32Node as SdkCrc32Node } from '@smithy/core/checksum';
import { afterAll, describe, expect, it } from 'vitest';
import { Crc32Node } from '../../lib/adapters/sdk-crc32-lazy-zlib';
import { fileIntercept, filePromises, readFile } from '../../lib/adapters/sdk-config-file-lazy-fs';

/** The stand-ins for two @smithy/core modules that the bundles use (deploy/esbuild-plugins.cjs, lambda-substitutes). */
describe('Class: Crc32Node (stand-in taking node:zlib on first use)', () => {
  const inputs = [new Uint8Array(), new TextEncoder().encode('123456789'), new TextEncoder().encode('微信登录'), Uint8Array.from({ length: 4099 }, (_, i) => (i * 31) & 255)];

  it('computes what the SDK’s Crc32Node and its JavaScript Crc32 compute, in one update or several', async () => {
    for (const input of inputs) {
      const [ours, sdk, js] = [new Crc32Node(), new SdkCrc32Node(), new Crc32Js()];
      ours.update(input.subarray(0, 7));
      ours.update(input.subarray(7));
      sdk.update(input);
      js.update(input);
      expect(await ours.digest()).toEqual(await sdk.digest());
      expect(await ours.digest()).toEqual(await js.digest());
    }
    // The standard check value of CRC-32/ISO-HDLC.
    const check = new Crc32Node();
    check.update(new TextEncoder().encode('123456789'));
    expect(check.digestSync()).toBe(0xcbf43926);
    expect(check.digestLength).toBe(4);
  });

  it('starts again after reset', async () => {
    const crc = new Crc32Node();
    crc.update(inputs[1]!);
    crc.reset();
    expect(crc.digestSync()).toBe(0);
    crc.update(inputs[2]!);
    const fresh = new Crc32Node();
    fresh.update(inputs[2]!);
    expect(await crc.digest()).toEqual(await fresh.digest());
  });
});

describe('Function: readFile (stand-in for the SDK config-file reader, taking node:fs/promises on first use)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wxlogin-readfile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file as UTF-8 once, and again when asked to ignore the cache', async () => {
    const path = join(dir, 'config');
    writeFileSync(path, '[default]\nregion = 上海\n');
    await expect(readFile(path)).resolves.toBe('[default]\nregion = 上海\n');
    writeFileSync(path, '[default]\nregion = ap-east-1\n');
    await expect(readFile(path)).resolves.toContain('上海');
    expect(filePromises[path]).toBeDefined();
    await expect(readFile(path, { ignoreCache: true })).resolves.toContain('ap-east-1');
  });

  it('answers an intercepted path from the intercept, and rejects a missing file as fs does', async () => {
    fileIntercept['/intercepted'] = Promise.resolve('[profile x]');
    await expect(readFile('/intercepted')).resolves.toBe('[profile x]');
    delete fileIntercept['/intercepted'];
    await expect(readFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
