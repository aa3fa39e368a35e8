import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { devEnvPath, parseEnvFile } from '../../local/env-file';
import { freePort } from '../../local/serverless-cli';

/** Runs one of the local/ scripts as a developer would, collecting what it prints. */
export function runScript(script: string, env: Record<string, string>, args: string[] = []): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: process.cwd(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so whatever it starts (serverless offline, redis-server) can be
    // stopped with it.
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return { child, output: () => output };
}

export const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

export interface DevServer {
  base: string;
  child: ChildProcess;
  output(): string;
  /**
   * The pid of the private redis-server this `npm run dev` started (it prints it), so a test
   * can pause it with SIGSTOP: connections stay open and every request hangs, as in a network
   * partition, until SIGCONT. Throws when the stack uses REDIS_URL's Redis instead.
   */
  redisPid(): number;
  /** What it wrote for the operator scripts (.local/dev-<port>.env): the local stack's endpoints, table names and keys. */
  env(): Record<string, string>;
  /** Stops it and everything it started: Ctrl-C first, then SIGKILL to the whole group. */
  kill(): Promise<void>;
}

/** `npm run dev` on a free port, resolved once the API answers. */
export async function startDevServer(env: Record<string, string> = {}): Promise<DevServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dev = runScript('local/dev.ts', { PORT: String(port), ...env });
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (dev.child.exitCode !== null) throw new Error(`npm run dev exited early:\n${dev.output()}`);
    const ready = await fetch(`${base}/user/wechatlogin`, { method: 'POST', body: '{}' }).then(
      (r) => r.status === 400,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`npm run dev did not come up:\n${dev.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    base,
    child: dev.child,
    output: dev.output,
    redisPid() {
      const pid = Number(/private redis-server pid (\d+)/.exec(dev.output())?.[1]);
      if (!pid) throw new Error('npm run dev did not start a redis-server of its own (REDIS_URL set?)');
      return pid;
    },
    env() {
      return parseEnvFile(readFileSync(devEnvPath(port), 'utf8'));
    },
    async kill() {
      await stopGroup(dev.child);
    },
  };
}

/** Ctrl-C to the process (it stops what it started), then SIGKILL to its group for anything left. */
export async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGINT');
    await Promise.race([exited(child), new Promise((resolve) => setTimeout(resolve, 5000))]);
  }
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // the group is already gone
  }
}
