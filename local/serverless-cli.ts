import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** osls's CLI entry, run with this Node: never a `serverless` v4 that may be on PATH. */
export const SERVERLESS_BIN = join(dirname(require.resolve('osls/package.json')), 'bin', 'serverless.js');

export function runServerless(args: string[], env: Record<string, string | undefined>, stdio: 'inherit' | 'pipe' = 'inherit'): ChildProcess {
  return spawn(process.execPath, [SERVERLESS_BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `serverless offline` arguments that keep every port of ours free of collisions. */
export async function offlineArgs(httpPort: number): Promise<string[]> {
  return [
    'offline',
    'start',
    '--host', '127.0.0.1',
    '--httpPort', String(httpPort),
    '--lambdaPort', String(await freePort()),
    '--websocketPort', String(await freePort()),
  ];
}
