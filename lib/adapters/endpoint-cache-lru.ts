/**
 * Stands in for `mnemonist/lru-cache` in the bundles (deploy/esbuild-plugins.cjs).
 * The DynamoDB client builds an endpoint-discovery cache on it (@aws-sdk/endpoint-cache) even
 * though endpoint discovery is off: mnemonist and its helper add ~7 KB to every bundle with
 * a DynamoDB client. This is the part of its interface that cache uses (get, set, has, peek,
 * clear), least recently used first out, on a Map.
 *
 * Its figure (2026-12-05, `npm run bench -- --only lru`, Node 20): the login bundle is 313.1 KB
 * with it and 319.5 KB with mnemonist's, 6.4 KB less in every build (a size, so no noise). The
 * import's CPU did not tell the two apart on a loaded machine (mnemonist's over this one, round
 * by round: median +0.5 ms, dearer in 16 of 31 rounds): it earns its place on size alone.
 */
export default class LRUCache<K, V> {
  private readonly items = new Map<K, V>();

  constructor(private readonly capacity: number) {
    if (!(capacity > 0)) throw new Error('LRUCache: capacity should be a positive number');
  }

  get size(): number {
    return this.items.size;
  }

  /** The value, made the most recently used. */
  get(key: K): V | undefined {
    if (!this.items.has(key)) return undefined;
    const value = this.items.get(key)!;
    this.items.delete(key);
    this.items.set(key, value);
    return value;
  }

  /** The value, its recency unchanged. */
  peek(key: K): V | undefined {
    return this.items.get(key);
  }

  has(key: K): boolean {
    return this.items.has(key);
  }

  set(key: K, value: V): this {
    this.items.delete(key);
    this.items.set(key, value);
    if (this.items.size > this.capacity) this.items.delete(this.items.keys().next().value as K);
    return this;
  }

  clear(): void {
    this.items.clear();
  }
}
