import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const EXAMPLE = 'examples/miniprogram';
const KIT_API = ['login', 'request', 'logout', 'getToken'];

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return jsFiles(path);
    return path.endsWith('.js') ? [path] : [];
  });
}

describe('examples/miniprogram', () => {
  it('carries an exact copy of client/wechat-auth.js (a mini-program cannot require outside its root)', () => {
    expect(readFileSync(join(EXAMPLE, 'utils', 'wechat-auth.js'), 'utf8')).toBe(readFileSync('client/wechat-auth.js', 'utf8'));
  });

  it('uses only the kit’s public API', () => {
    const code = jsFiles(EXAMPLE)
      .filter((path) => !path.endsWith('wechat-auth.js'))
      .map((path) => readFileSync(path, 'utf8'))
      .join('\n');
    const used = [...code.matchAll(/(?<![\w-])auth\s*\.\s*([A-Za-z_$][\w$]*)/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const method of used) expect(KIT_API).toContain(method);
    expect(code).toMatch(/createAuth\(\{ baseUrl, wx \}\)/);
    expect(code).not.toMatch(/wx\.request|wx\.login|setStorageSync/);
  });

  it('is valid JSON configuration with the page it names', () => {
    const app = JSON.parse(readFileSync(join(EXAMPLE, 'app.json'), 'utf8'));
    for (const page of app.pages) expect(statSync(join(EXAMPLE, `${page}.js`)).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(join(EXAMPLE, 'project.config.json'), 'utf8'))).toMatchObject({ compileType: 'miniprogram' });
  });
});
