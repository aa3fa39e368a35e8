import { createHmac } from 'node:crypto';
import { AppError } from '../errors';
import type { WechatApi } from './wechat-access-token';

const API = '/wxa/checksession';
/** WeChat's answer for a session_key it has replaced (or that expired): "invalid signature". */
export const STALE_KEY_ERRCODE = 87009;

/** The port the open-data use case asks when a decryption fails. */
export interface SessionKeyCheck {
  /** Whether WeChat still holds `sessionKey` as the user's: 'valid', or 'stale' (87009). */
  check(openid: string, sessionKey: string): Promise<'valid' | 'stale'>;
}

/**
 * `GET /wxa/checksession` (检验登录态): WeChat is never sent the session_key, only
 * `signature` = the hex HMAC-SHA256 keyed with the session_key string exactly as WeChat sent it,
 * over the empty string, with `sig_method=hmac_sha256`. A read, so safe to send again. The
 * signature is a credential of the key's: it goes in the query only, and errors name the API,
 * never the URL.
 */
export function createWechatSessionCheck(api: WechatApi): SessionKeyCheck {
  return {
    async check(openid, sessionKey) {
      const signature = createHmac('sha256', sessionKey).update('').digest('hex');
      const answer = await api.get(API, { openid, signature, sig_method: 'hmac_sha256' }, { idempotent: true });
      if (answer.errcode === undefined || answer.errcode === 0) return 'valid';
      if (answer.errcode === STALE_KEY_ERRCODE) return 'stale';
      throw new AppError('WECHAT_ERROR', `${API} answered errcode ${String(answer.errcode)}`, {
        details: { api: API, errcode: answer.errcode, errmsg: typeof answer.errmsg === 'string' ? answer.errmsg : '' },
      });
    },
  };
}
