import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';

const EXAMPLE = 'examples/miniprogram';
const KIT_API = ['login', 'request', 'logout', 'bindPhone', 'uploadAvatar', 'updateProfile', 'deleteAccount', 'getToken'];

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

  it('has a getPhoneNumber button with its own quota toast off, wired to the page’s handler', () => {
    const page = readFileSync(join(EXAMPLE, 'pages/index/index.wxml'), 'utf8');
    expect(page).toMatch(/<button open-type="getPhoneNumber" phone-number-no-quota-toast="\{\{false\}\}" bindgetphonenumber="onPhone">/);
  });

  it('has the avatar button and the nickname input in a form submitted by a button, as WeChat advises', () => {
    const page = readFileSync(join(EXAMPLE, 'pages/index/index.wxml'), 'utf8');
    expect(page).toMatch(/<button[^>]*open-type="chooseAvatar"[^>]*bind:chooseavatar="onChooseAvatar"/);
    expect(page).toMatch(/<form bindsubmit="onSaveNickname">[\s\S]*<input type="nickname" name="nickname"[\s\S]*<button form-type="submit">[\s\S]*<\/form>/);
  });

  describe('the page’s onPhone, run with a stand-in Page and app', () => {
    /** Loads pages/index/index.js as the mini-program runtime would, with `auth` as the app's kit. */
    function page(auth: Record<string, (...args: unknown[]) => Promise<unknown>>, wx: Record<string, unknown> = {}) {
      let definition: any;
      const states: Record<string, unknown>[] = [];
      runInNewContext(readFileSync(join(EXAMPLE, 'pages/index/index.js'), 'utf8'), {
        getApp: () => ({ auth }),
        Page: (d: unknown) => (definition = d),
        wx,
      });
      const instance = Object.assign(Object.create(definition), { setData: (d: Record<string, unknown>) => states.push(d), data: {} });
      return { instance, states };
    }
    const never = () => Promise.reject(new Error('not called'));

    it.each([
      [{ errno: 1400001 }, 'phone verification is unavailable right now'],
      [{ errMsg: 'getPhoneNumber:fail user deny' }, 'no phone number shared'],
    ])('tells the user without calling the server when there is no code (%j)', (detail, message) => {
      const calls: unknown[] = [];
      const { instance, states } = page({ bindPhone: (...args) => (calls.push(args), never()), request: never });
      instance.onPhone({ detail });
      expect(states).toEqual([{ error: message }]);
      expect(calls).toEqual([]);
    });

    it('uploads the chosen avatar and saves the submitted nickname through the kit', async () => {
      const calls: unknown[] = [];
      const { instance, states } = page({
        uploadAvatar: (path) => (calls.push(['uploadAvatar', path]), Promise.resolve({ avatarUrl: 'https://img/a.png' })),
        updateProfile: (p) => (calls.push(['updateProfile', p]), Promise.reject(Object.assign(new Error('x'), { code: 'CONTENT_REJECTED' }))),
        request: never,
      });
      instance.onChooseAvatar({ detail: { avatarUrl: 'wxfile://tmp.png' } });
      instance.onSaveNickname({ detail: { value: { nickname: '丽塔' } } });
      await new Promise((r) => setTimeout(r, 0));
      expect(calls).toEqual([['uploadAvatar', 'wxfile://tmp.png'], ['updateProfile', { nickname: '丽塔' }]]);
      expect(states).toContainEqual({ profile: { avatarUrl: 'https://img/a.png' }, error: '' });
      expect(states).toContainEqual({ error: 'please choose another nickname' });
    });

    it('deletes the account only after the user confirms, and says so', async () => {
      const calls: string[] = [];
      let confirm = false;
      const wx = { showModal: (o: { success: (r: { confirm: boolean }) => void }) => setTimeout(() => o.success({ confirm }), 0) };
      const { instance, states } = page({ deleteAccount: () => (calls.push('deleteAccount'), Promise.resolve()), request: never }, wx);
      instance.deleteAccount();
      await new Promise((r) => setTimeout(r, 5));
      expect(calls).toEqual([]);
      confirm = true;
      instance.deleteAccount();
      await new Promise((r) => setTimeout(r, 5));
      expect(calls).toEqual(['deleteAccount']);
      expect(states).toEqual([{ profile: null, error: 'your account was deleted' }]);
    });

    it('binds the code and shows PHONE_IN_USE as a sentence', async () => {
      const { instance, states } = page({ bindPhone: () => Promise.reject(Object.assign(new Error('x'), { code: 'PHONE_IN_USE' })), request: never });
      instance.onPhone({ detail: { code: 'c1' } });
      await new Promise((r) => setTimeout(r, 0));
      expect(states).toEqual([{ error: 'this number is bound to another account' }]);
    });
  });

  it('is valid JSON configuration with the page it names', () => {
    const app = JSON.parse(readFileSync(join(EXAMPLE, 'app.json'), 'utf8'));
    for (const page of app.pages) expect(statSync(join(EXAMPLE, `${page}.js`)).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(join(EXAMPLE, 'project.config.json'), 'utf8'))).toMatchObject({ compileType: 'miniprogram' });
  });
});
