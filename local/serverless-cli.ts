import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** osls's CLI entry, run with this Node: never a `serverless` v4 that may be on PATH. */
export const SERVERLESS_BIN = join(dirname(require.resolve('osls/package.json')), 'bin', 'serverless.js');

/**
 * Runs osls with `env`, building into a work folder private to this run (see serverless.yml,
 * custom.esbuild.outputWorkFolder) that is removed when the run ends.
 */
export function runServerless(args: string[], env: Record<string, string | undefined>): ChildProcess {
  const workFolder = join('.esbuild-local', `${args[0]}-${process.pid}`);
  const child = spawn(process.execPath, [SERVERLESS_BIN, ...args], {
    env: { ...process.env, ...env, ESBUILD_WORK_FOLDER: workFolder },
    stdio: 'inherit',
  });
  // On the child's exit, or on ours if we stop first (npm run dev's Ctrl-C calls process.exit).
  const cleanUp = () => rmSync(workFolder, { recursive: true, force: true });
  child.once('exit', cleanUp);
  process.once('exit', cleanUp);
  return child;
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

/**
 * `serverless offline` arguments that keep every port of ours free of collisions, listening on
 * `host` (127.0.0.1: this machine only; 0.0.0.0 for a phone on the network too).
 */
export async function offlineArgs(httpPort: number, host = '127.0.0.1'): Promise<string[]> {
  return [
    'offline',
    'start',
    // Hand the local stack's environment (raw secrets included) to the functions, as the
    // template names only SSM parameters; a value in the environment wins over its parameter.
    '--localEnvironment',
    '--host', host,
    '--httpPort', String(httpPort),
    '--lambdaPort', String(await freePort()),
    '--websocketPort', String(await freePort()),
  ];
}
