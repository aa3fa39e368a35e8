/**
 * Stands in for @smithy/core's `Crc32Node` in the bundles (deploy/esbuild-plugins.cjs,
 * lambda-substitutes). The SDK's module imports node:zlib and reads `zlib.crc32` as it loads,
 * for the CRC32 of event-stream messages, which no DynamoDB call here ever receives (an S3
 * upload's checksum does use it). Lambda starts Node with V8 flags of its own (the heap sizes),
 * and with those Node compiles each builtin it loads from source instead of taking its built-in
 * code cache: node:zlib then costs ~1.3 ms of a cold start's CPU, on top of the builtins every
 * function loads (docs/performance.md). This is the same class, taking zlib only when a
 * checksum is computed.
 *
 * Its figure (2026-12-05, `BENCH_NODE=<node 22> npm run bench -- --only lazy-builtins`, Node
 * 22.23.5 under Lambda's flags): a DynamoDB client's import with the SDK's own Crc32Node over
 * this, round by round, median +3.02 and +3.8 ms (dearer in 27 and 25 of 41 rounds), in two runs; with both SDK
 * modules put back, +7.32 and +6.33 ms (33 and 28 of 41). It stays on that joint figure.
 */
type Zlib = typeof import('node:zlib');

export class Crc32Node {
  readonly digestLength = 4;
  private value = 0;

  update(data: Uint8Array): void {
    this.value = (process.getBuiltinModule('node:zlib') as Zlib).crc32(data, this.value);
  }

  digestSync(): number {
    return this.value >>> 0;
  }

  async digest(): Promise<Uint8Array> {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, this.digestSync(), false);
    return out;
  }

  reset(): void {
    this.value = 0;
  }
}
