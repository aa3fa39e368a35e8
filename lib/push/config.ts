import { ConfigError, settings, type Env } from '../config';
import { ENCODING_AES_KEY_PATTERN, PUSH_TOKEN_PATTERN } from './wechat-message';

/**
 * WeChat's message push (消息推送, POST/GET /wechat/events): the Token and EncodingAESKey set in
 * the console (开发管理 → 开发设置 → 消息推送), and the AppID a decrypted message must end with.
 */
export interface PushConfig {
  token: string;
  encodingAesKey: string;
  appId: string;
  /** WECHAT_PUSH_PLAINTEXT=accept: take 明文模式 pushes too (refused by default: their signature does not cover the body). */
  acceptPlaintext: boolean;
}

export function loadPushConfig(env: Env = process.env): PushConfig {
  const s = settings(env);
  const token = s.required('WECHAT_PUSH_TOKEN');
  // The messages name the rule, never the value: both are secrets, and a ConfigError is logged.
  if (!PUSH_TOKEN_PATTERN.test(token)) throw new ConfigError('WECHAT_PUSH_TOKEN must be 3–32 letters or digits, as the WeChat console takes it');
  const encodingAesKey = s.required('WECHAT_PUSH_AES_KEY');
  if (!ENCODING_AES_KEY_PATTERN.test(encodingAesKey)) throw new ConfigError('WECHAT_PUSH_AES_KEY must be the console’s EncodingAESKey: 43 base64 characters');
  const plaintext = s.oneOf('WECHAT_PUSH_PLAINTEXT', ['refuse', 'accept'], 'refuse');
  return { token, encodingAesKey, appId: s.required('WECHAT_APPID'), acceptPlaintext: plaintext === 'accept' };
}
