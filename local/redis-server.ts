import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RespClient, type RedisAddress } from './resp';
import { LocalSetupError } from './setup-error';

export interface RunningRedis {
  address: RedisAddress;
  /** True when we spawned it (and so may stop and start it again). */
  owned: boolean;
  /** The spawned server's process id while it runs (undefined for REDIS_URL's Redis). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
  /** Starts a stopped, owned server again on the same socket (data is gone: no persistence). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Parses redis://[:password@]host:port as REDIS_URL gives it. */
export function parseRedisUrl(value: string): Extract<RedisAddress, { host: string }> {
  const url = URL.parse(value);
  if (url?.protocol !== 'redis:') throw new LocalSetupError('REDIS_URL must look like redis://[:password@]host:port');
  return {
    host: url.hostname || '127.0.0.1',
    port: Number(url.port || 6379),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

/**
 * Uses the Redis at REDIS_URL if given; otherwise spawns a private `redis-server` (no
 * persistence) on a Unix socket in a temp dir — no TCP port to collide with, so stacks can run
 * side by side — or on 127.0.0.1:`port` when one is asked for.
 */
export async function startRedis(options: { url?: string | undefined; port?: number } = {}): Promise<RunningRedis> {
  if (options.url) {
    const address = parseRedisUrl(options.url);
    await waitForPing(address, 5000).catch(() => {
      // Its host and port only: the URL may carry a password.
      throw new LocalSetupError(`the Redis at REDIS_URL (${address.host}:${address.port}) did not answer PING within 5 s (is it running, its password right?); start it, or unset REDIS_URL to run a private redis-server`);
    });
    const noop = async () => {};
    return { address, owned: false, pid: undefined, stop: noop, start: noop, close: noop };
  }

  if (spawnSync('redis-server', ['--version']).error) {
    throw new LocalSetupError(
      'redis-server is not installed (not on PATH); install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL=redis://host:port to use a Redis you already run',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'wxlogin-redis-'));
  const address: RedisAddress = options.port ? { host: '127.0.0.1', port: options.port } : { path: join(dir, 'redis.sock') };
  const listen =
    'path' in address
      ? ['--port', '0', '--unixsocket', address.path, '--unixsocketperm', '700']
      : ['--port', String(address.port), '--bind', '127.0.0.1'];
  let child: ChildProcess | undefined;

  const start = async () => {
    if (child) return;
    child = spawn('redis-server', [...listen, '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    child.once('exit', () => {
      child = undefined;
    });
    await waitForPing(address, 5000);
  };
  const stop = async () => {
    const running = child;
    if (!running) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
  };

  await start();
  return {
    address,
    owned: true,
    get pid() {
      return child?.pid;
    },
    start,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(address: RedisAddress, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new RespClient(address);
    try {
      const [reply] = await client.send([['PING']]);
      if (reply?.type === 'status') return;
    } catch {
      // not up yet
    } finally {
      client.close();
    }
    if (Date.now() > deadline) throw new Error('redis-server did not answer PING in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
