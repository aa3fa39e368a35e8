import { EndpointCache } from '@aws-sdk/endpoint-cache';
import { describe, expect, it, vi } from 'vitest';
import LRUCache from '../../lib/adapters/endpoint-cache-lru';

/** The stand-in for mnemonist/lru-cache that the bundles use (deploy/esbuild-plugins.cjs, lambda-substitutes). */
describe('Class: LRUCache (endpoint cache stand-in)', () => {
  it('evicts the least recently used entry past its capacity; get refreshes an entry, peek does not', () => {
    const cache = new LRUCache<string, number>(2);
    cache.set('a', 1).set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect([cache.has('a'), cache.has('b'), cache.has('c')]).toEqual([true, false, true]);
    expect(cache.peek('a')).toBe(1); // a stays the older of the two
    cache.set('d', 4);
    expect([cache.has('a'), cache.has('c'), cache.has('d')]).toEqual([false, true, true]);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('refuses a capacity that is not positive', () => {
    expect(() => new LRUCache(0)).toThrow(/positive/);
  });

  it('carries the SDK endpoint cache the way mnemonist does: entries expire, delete empties them', () => {
    vi.useFakeTimers({ now: 0, toFake: ['Date'] });
    try {
      // The SDK's class, over this stand-in instead of mnemonist (as in the bundles).
      const cache = new EndpointCache(2);
      (cache as unknown as { cache: LRUCache<string, unknown> }).cache = new LRUCache(2);
      cache.set('k', [{ Address: 'https://a', CachePeriodInMinutes: 1 }]);
      expect(cache.getEndpoint('k')).toBe('https://a');
      vi.setSystemTime(61_000);
      expect(cache.getEndpoint('k')).toBeUndefined();
      cache.set('k', [{ Address: 'https://b', CachePeriodInMinutes: 1 }]);
      cache.delete('k');
      expect(cache.has('k')).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});
