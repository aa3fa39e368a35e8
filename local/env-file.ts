import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isAppSecretSetting } from '../lib/apps';

/**
 * The file `npm run dev` writes its endpoints and credentials to, one per port, so that two
 * stacks side by side (PORT=3001 npm run dev) do not overwrite each other's. `.local/` is ignored.
 */
export const devEnvPath = (port: number) => join('.local', `dev-${port}.env`);

/**
 * Never written: the operator scripts need no app's AppSecret (WECHAT_SECRET, WECHAT_SECRET_<appid>);
 * nor WECHAT_APPS, so that a function run with this file (`serverless invoke local`, given the
 * AppSecret npm run dev was started with) serves the default app alone, and asks SSM for no
 * other app's AppSecret. The second app's AppID is here as WECHAT_APPID_MINI2.
 */
const leftOut = (key: string) => isAppSecretSetting(key) || key === 'WECHAT_APPS';

const quote = (value: string) => (/^[\w@%+=:,./-]*$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`);

/** KEY=value lines that both `--env FILE` and `set -a; . FILE; set +a` read. */
export function formatEnvFile(env: Record<string, string>, header: string): string {
  const lines = Object.entries(env)
    .filter(([key]) => !leftOut(key))
    .map(([key, value]) => `${key}=${quote(value)}`);
  return `# ${header}\n${lines.join('\n')}\n`;
}

/**
 * Writes the file (owner-only: it holds the Redis token and the push key) and removes it when
 * this process exits, unless another run has replaced it since.
 */
export function writeDevEnv(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { mode: 0o600 });
  process.once('exit', () => {
    try {
      if (readFileSync(path, 'utf8') === content) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  });
}

/** Reads KEY=value lines (# comments, blank lines, 'single-quoted' values, an optional `export `). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2]!;
    if (value.startsWith("'") && value.endsWith("'") && value.length >= 2) value = value.slice(1, -1).replaceAll(`'\\''`, "'");
    else if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    env[match[1]!] = value;
  }
  return env;
}

/**
 * `--env FILE` of an operator script: its values go into process.env, over any already set
 * (the file was named explicitly; a stray production URL in the shell must not win). Returns an
 * error message instead of throwing.
 */
export function loadEnvFile(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); is npm run dev running on that port?`;
  }
  for (const [key, value] of Object.entries(parseEnvFile(text))) process.env[key] = value;
  return undefined;
}
