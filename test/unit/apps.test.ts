import { describe, expect, it } from 'vitest';
import { isAppSecretSetting, loadApps, loadAppSecrets, withAppParameters } from '../../lib/apps';
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

  it('leaves the environment as it is without WECHAT_APP_PARAMETERS (locally)', () => {
    const env = { WECHAT_APPS: 'wxB' };
    expect(withAppParameters(env)).toBe(env);
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
