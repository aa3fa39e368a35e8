import { appSetting, loadApps, type AppKind } from '../apps';
import { ConfigError, settings, type Env } from '../config';
import { ENCODING_AES_KEY_PATTERN, PUSH_TOKEN_PATTERN } from './wechat-message';

/**
 * WeChat's message push (消息推送, POST/GET /wechat/events, /wechat/events/<appid> for another
 * app): the Token and EncodingAESKey set in the app's console (开发管理 → 开发设置 → 消息推送),
 * and the AppID a decrypted message must end with.
 */
export interface PushConfig {
  token: string;
  encodingAesKey: string;
  appId: string;
  kind: AppKind;
  /** WECHAT_PUSH_PLAINTEXT=accept: take 明文模式 pushes too (refused by default: their signature does not cover the body). */
  acceptPlaintext: boolean;
}

/** The default app's push settings (WECHAT_PUSH_TOKEN, WECHAT_PUSH_AES_KEY). */
export function loadPushConfig(env: Env = process.env): PushConfig {
  return loadPushConfigs(env).get(loadApps(env).defaultApp.appId)!;
}

/**
 * Every app's push settings, by AppID: WeChat's message push is configured per app, each with
 * its own Token and EncodingAESKey (`WECHAT_PUSH_TOKEN_<appid>`, `WECHAT_PUSH_AES_KEY_<appid>`
 * for another app than the default: lib/apps.ts).
 */
export function loadPushConfigs(env: Env = process.env): ReadonlyMap<string, PushConfig> {
  const s = settings(env);
  const apps = loadApps(env);
  const acceptPlaintext = s.oneOf('WECHAT_PUSH_PLAINTEXT', ['refuse', 'accept'], 'refuse') === 'accept';
  return new Map(
    apps.all.map(({ appId }) => {
      const tokenName = appSetting(apps, appId, 'WECHAT_PUSH_TOKEN');
      const keyName = appSetting(apps, appId, 'WECHAT_PUSH_AES_KEY');
      const token = s.required(tokenName);
      // The messages name the rule, never the value: both are secrets, and a ConfigError is logged.
      if (!PUSH_TOKEN_PATTERN.test(token)) throw new ConfigError(`${tokenName} must be 3–32 letters or digits, as the WeChat console takes it`);
      const encodingAesKey = s.required(keyName);
      if (!ENCODING_AES_KEY_PATTERN.test(encodingAesKey)) throw new ConfigError(`${keyName} must be the console’s EncodingAESKey: 43 base64 characters`);
      return [appId, { token, encodingAesKey, appId, kind: apps.get(appId)!.kind, acceptPlaintext }];
    }),
  );
}
