import { describe, expect, it } from 'vitest';
import { isAppSecretSetting, isAppSecureSetting, loadApps, loadAppSecrets, withAppParameters } from '../../lib/apps';
import { loadPushConfigs } from '../../lib/push/config';
import { ConfigError } from '../../lib/config';

describe('Function: loadApps', () => {
  it('is the default mini-program alone without WECHAT_APPS, as a deployment of one app was', () => {
    const apps = loadApps({ WECHAT_APPID: 'wx1111111111111111' });
    expect(apps.all).toEqual([{ appId: 'wx1111111111111111', kind: 'miniprogram' }]);
    expect(apps.defaultApp.appId).toBe('wx1111111111111111');
    expect(apps.get('wx2222222222222222')).toBeUndefined();
  });

  it('adds each listed app, comma- or space-separated, with its kind or miniprogram', () => {
    const apps = loadApps({ WECHAT_APPID: 'wxA', WECHAT_APPS: ' wxB, wxC:miniprogram  wxD ' });
    expect(apps.all.map((app) => app.appId)).toEqual(['wxA', 'wxB', 'wxC', 'wxD']);
    expect(apps.get('wxC')).toEqual({ appId: 'wxC', kind: 'miniprogram' });
  });

  it.each([
    ['wx-B', 'WECHAT_APPS entries must be appid or appid:kind'],
    ['wxB:miniprogram:x', 'WECHAT_APPS entries must be appid or appid:kind'],
    ['wxB:website', 'WECHAT_APPS: the kind of wxB must be one of miniprogram'],
    ['wxB,wxB', 'WECHAT_APPS lists wxB twice'],
    ['wxA', 'WECHAT_APPS lists wxA twice'],
  ])('refuses WECHAT_APPS=%s with a message that says why', (list, message) => {
    expect(() => loadApps({ WECHAT_APPID: 'wxA', WECHAT_APPS: list })).toThrow(ConfigError);
    expect(() => loadApps({ WECHAT_APPID: 'wxA', WECHAT_APPS: list })).toThrow(message);
  });
});

describe('Function: loadAppSecrets', () => {
  it('reads WECHAT_SECRET for the default app and WECHAT_SECRET_<appid> for each other', () => {
    const env = { WECHAT_APPID: 'wxA', WECHAT_APPS: 'wxB', WECHAT_SECRET: 'a-secret', WECHAT_SECRET_wxB: 'b-secret' };
    expect([...loadAppSecrets(env, loadApps(env))]).toEqual([
      ['wxA', 'a-secret'],
      ['wxB', 'b-secret'],
    ]);
  });

  it('names the missing secret of an app', () => {
    const env = { WECHAT_APPID: 'wxA', WECHAT_APPS: 'wxB', WECHAT_SECRET: 'a-secret' };
    expect(() => loadAppSecrets(env, loadApps(env))).toThrow('WECHAT_SECRET_wxB is required');
  });
});

describe('Function: withAppParameters', () => {
  it('names each listed app’s SecureString parameter under WECHAT_APP_PARAMETERS, unless the secret or its parameter is set', () => {
    const env = { WECHAT_APPS: 'wxB,wxC:miniprogram,wxD', WECHAT_APP_PARAMETERS: '/svc/prod/apps/', WECHAT_SECRET_wxC: 'set', WECHAT_SECRET_wxD_PARAMETER: '/elsewhere' };
    expect(withAppParameters(env)).toEqual({ ...env, WECHAT_SECRET_wxB_PARAMETER: '/svc/prod/apps/wxB/wechat-secret' });
  });

  it('names the parameters WECHAT_APP_SETTINGS lists (the push function’s Token and key, no AppSecret), and refuses another name', () => {
    const env = { WECHAT_APPS: 'wxB', WECHAT_APP_PARAMETERS: '/svc/prod/apps', WECHAT_APP_SETTINGS: 'wechat-push-token wechat-push-aes-key' };
    expect(withAppParameters(env)).toEqual({
      ...env,
      WECHAT_PUSH_TOKEN_wxB_PARAMETER: '/svc/prod/apps/wxB/wechat-push-token',
      WECHAT_PUSH_AES_KEY_wxB_PARAMETER: '/svc/prod/apps/wxB/wechat-push-aes-key',
    });
    expect(() => withAppParameters({ ...env, WECHAT_APP_SETTINGS: 'wechat-appid' })).toThrow('WECHAT_APP_SETTINGS: wechat-appid is not one of wechat-secret, wechat-push-token, wechat-push-aes-key');
  });

  it('leaves the environment as it is without WECHAT_APP_PARAMETERS (locally)', () => {
    const env = { WECHAT_APPS: 'wxB' };
    expect(withAppParameters(env)).toBe(env);
  });
});

describe('Function: loadPushConfigs', () => {
  const KEY = 'k'.repeat(43);
  it('reads each app’s own push Token and key, and names the missing or malformed one (never its value)', () => {
    const env = { WECHAT_APPID: 'wxA', WECHAT_APPS: 'wxB', WECHAT_PUSH_TOKEN: 'tokenA', WECHAT_PUSH_AES_KEY: KEY, WECHAT_PUSH_TOKEN_wxB: 'tokenB', WECHAT_PUSH_AES_KEY_wxB: KEY };
    expect([...loadPushConfigs(env).values()].map(({ appId, token }) => [appId, token])).toEqual([
      ['wxA', 'tokenA'],
      ['wxB', 'tokenB'],
    ]);
    expect(() => loadPushConfigs({ ...env, WECHAT_PUSH_TOKEN_wxB: '' })).toThrow('WECHAT_PUSH_TOKEN_wxB is required');
    expect(() => loadPushConfigs({ ...env, WECHAT_PUSH_AES_KEY_wxB: 'short-secret' })).toThrow(/^WECHAT_PUSH_AES_KEY_wxB must be the console’s EncodingAESKey/);
    expect(() => loadPushConfigs({ ...env, WECHAT_PUSH_AES_KEY_wxB: 'short-secret' })).not.toThrow(/short-secret/);
  });
});

describe('Function: isAppSecureSetting', () => {
  it.each([
    ['WECHAT_SECRET_wxB', true],
    ['WECHAT_PUSH_TOKEN_wxB', true],
    ['WECHAT_PUSH_AES_KEY_wxB', true],
    ['WECHAT_PUSH_TOKEN_wxB_PARAMETER', false],
    ['WECHAT_APPS', false],
  ])('%s: %s', (name, secure) => {
    expect(isAppSecureSetting(name)).toBe(secure);
  });
});

describe('Function: isAppSecretSetting', () => {
  it.each([
    ['WECHAT_SECRET', true],
    ['WECHAT_SECRET_wx1111111111111111', true],
    ['WECHAT_SECRET_PARAMETER', false],
    ['WECHAT_SECRET_wxB_PARAMETER', false],
    ['WECHAT_APPID', false],
  ])('%s: %s', (name, secret) => {
    expect(isAppSecretSetting(name)).toBe(secret);
  });
});
