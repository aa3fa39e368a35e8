import { AppError } from '../errors';
import type { WechatApi } from './wechat-access-token';

/** A WeChat-verified phone number. */
export interface PhoneInfo {
  /** Digits only, e.g. "86". */
  countryCode: string;
  /** The national number, digits only. */
  purePhoneNumber: string;
  /** As WeChat gives it: the bare number for China, "+CC NUMBER" for numbers outside it. */
  phoneNumber: string;
}

/** The port the phone-binding use case depends on. */
export interface WechatPhone {
  getPhoneNumber(code: string, openid: string): Promise<PhoneInfo>;
}

const API = '/wxa/business/getuserphonenumber';

/** errcodes documented for getuserphonenumber (-1 and the token ones are WechatApi's). */
export const PHONE_ERRCODES = {
  APPID_MISMATCH: 40013,
  INVALID_CODE: 40029,
  MINUTE_QUOTA: 45011,
  API_UNAUTHORIZED: 48001,
} as const;

/**
 * `POST /wxa/business/getuserphonenumber`: a phone code from `<button open-type="getPhoneNumber">`
 * to the user's verified number ("手机号快速验证"). The code lives 5 minutes and is used up by the
 * first call that reaches WeChat, so the call is never re-sent after a reset socket or a
 * timeout. `openid` (optional in WeChat's API) ties the code to the signed-in user.
 *
 * The number is personal data: it is never logged or put in an error here; log it with maskPhone.
 */
export function createWechatPhone(api: WechatApi, options: { appId: string }): WechatPhone {
  return {
    async getPhoneNumber(code, openid) {
      const answer = await api.post(API, { code, openid }, { idempotent: false });
      // WechatApi hands back every errcode but 0 as a number.
      if (typeof answer.errcode === 'number' && answer.errcode !== 0) {
        throw mapErrcode(answer.errcode, typeof answer.errmsg === 'string' ? answer.errmsg : '');
      }
      return parsePhoneInfo(answer.phone_info, options.appId);
    },
  };
}

function mapErrcode(errcode: number, errmsg: string): AppError {
  const details = { api: API, errcode, errmsg };
  switch (errcode) {
    case PHONE_ERRCODES.INVALID_CODE:
      // Unknown, expired (5 min) or already used: the user must tap the button again.
      return new AppError('INVALID_PHONE_CODE', undefined, { details });
    case PHONE_ERRCODES.MINUTE_QUOTA:
      return new AppError('RATE_LIMITED', 'WeChat phone-number quota reached. Retry in a minute.', { details, retryAfterSeconds: 60 });
    case PHONE_ERRCODES.API_UNAUTHORIZED:
      // WeChat offers phone numbers only to verified (认证), non-individual mini-programs.
      return configuration(details, 'the mini-program is not verified (认证) or is an individual one; getuserphonenumber is not available to it');
    case PHONE_ERRCODES.APPID_MISMATCH:
      // The docs: "请求appid身份与获取code的小程序appid不匹配" — the code came from another mini-program.
      return configuration(details, 'the phone code was issued to another mini-program than WECHAT_APPID: the client build and the server use different AppIDs');
    default:
      return configuration(details, 'an errcode getuserphonenumber does not document: look it up in WeChat’s global errcode table');
  }
}

function configuration(details: Record<string, unknown>, action: string): AppError {
  return new AppError('WECHAT_ERROR', `getuserphonenumber answered errcode ${String(details.errcode)}`, { details: { ...details, action } });
}

/**
 * Checks the answer strictly, naming only the field that is wrong (never its value: it is a
 * phone number). countryCode comes as a string or a number (WeChat's docs show both).
 */
function parsePhoneInfo(info: unknown, appId: string): PhoneInfo {
  if (!isObject(info)) throw malformed('phone_info');
  const { countryCode: rawCountryCode, purePhoneNumber, phoneNumber, watermark } = info;
  const countryCode =
    typeof rawCountryCode === 'number' && Number.isInteger(rawCountryCode) ? String(rawCountryCode) : typeof rawCountryCode === 'string' ? rawCountryCode : '';
  if (!/^[1-9]\d{0,3}$/.test(countryCode)) throw malformed('countryCode');
  if (typeof purePhoneNumber !== 'string' || !/^\d{5,15}$/.test(purePhoneNumber)) throw malformed('purePhoneNumber');
  // The bare number (China), or "+CC NUMBER" (with or without the space) of these very parts.
  const forms = [purePhoneNumber, `+${countryCode} ${purePhoneNumber}`, `+${countryCode}${purePhoneNumber}`];
  if (typeof phoneNumber !== 'string' || !forms.includes(phoneNumber)) throw malformed('phoneNumber');

  // The watermark names the mini-program the number was given to: another appid means a
  // misconfigured deployment or an answer that is not WeChat's for our request.
  if (!isObject(watermark) || typeof watermark.appid !== 'string') throw malformed('watermark');
  if (watermark.appid !== appId) {
    throw new AppError('WECHAT_ERROR', 'getuserphonenumber answered for another appid', {
      details: {
        api: API,
        reason: 'watermark appid mismatch',
        watermarkAppid: watermark.appid.slice(0, 64),
        action: 'misconfiguration or tampering: the answer is watermarked for another mini-program than WECHAT_APPID',
      },
    });
  }
  return { countryCode, purePhoneNumber, phoneNumber };
}

function malformed(field: string): AppError {
  return new AppError('WECHAT_UNAVAILABLE', `getuserphonenumber failed: malformed ${field}`, {
    details: { api: API, reason: 'malformed reply', field },
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * A phone number for logs: at least 4 digits hidden, at most the first 3 and last 4 shown
 * (13800138000 → 138****8000, +1 4155550123 → +1 415****123, 5 digits → ****5). A "+CC "
 * prefix is kept; anything but digits is dropped.
 */
export function maskPhone(phone: string): string {
  const [, prefix = '', rest = ''] = /^(\+\d{1,4} )?(.*)$/s.exec(phone.trim())!;
  const digits = rest.replace(/\D/g, '');
  const head = Math.max(0, Math.min(3, Math.floor((digits.length - 4) / 2)));
  const tail = Math.max(0, Math.min(4, digits.length - 4 - head));
  return prefix + digits.slice(0, head) + '*'.repeat(digits.length - head - tail) + digits.slice(digits.length - tail);
}
