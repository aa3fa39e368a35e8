import { DROP_ACCESS_TOKEN_SCRIPT, type AccessTokenRedis } from '../../lib/adapters/wechat-access-token';

/**
 * The few Redis commands the access-token cache sends, in memory, on an injected clock: GET,
 * SET with PX, and the drop script's semantics. Several "containers" share one to share a
 * token, as they share Upstash. `down` makes every command fail as an unreachable Redis does.
 */
export class FakeTokenRedis implements AccessTokenRedis {
  readonly entries = new Map<string, { value: string; expiresAt: number }>();
  readonly calls = { get: 0, set: 0, eval: 0 };
  down = false;

  constructor(private readonly now: () => number) {}

  async get(key: string): Promise<string | null> {
    this.reachable();
    this.calls.get++;
    return this.read(key);
  }

  async set(key: string, value: string, options: { px: number }): Promise<'OK'> {
    this.reachable();
    this.calls.set++;
    this.entries.set(key, { value, expiresAt: this.now() + options.px });
    return 'OK';
  }

  async eval(script: string, keys: string[], args: string[]): Promise<number> {
    this.reachable();
    this.calls.eval++;
    if (script !== DROP_ACCESS_TOKEN_SCRIPT) throw new Error('FakeTokenRedis knows only the drop script');
    const key = keys[0]!;
    if (!this.read(key)?.startsWith(`${args[0]}|`)) return 0;
    this.entries.delete(key);
    return 1;
  }

  /** Milliseconds the key has left, or undefined when it is gone. */
  ttl(key: string): number | undefined {
    const entry = this.entries.get(key);
    return entry && entry.expiresAt > this.now() ? entry.expiresAt - this.now() : undefined;
  }

  /** Every stored value, to look for what must never be there. */
  dump(): string {
    return [...this.entries].map(([key, { value }]) => `${key} ${value}`).join('\n');
  }

  private read(key: string): string | null {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAt <= this.now()) return null;
    return entry.value;
  }

  private reachable(): void {
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED (fake Redis is down)'), { code: 'ECONNREFUSED' });
  }
}
