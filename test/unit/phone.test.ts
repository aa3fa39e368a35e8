import { describe, expect, it, vi } from 'vitest';
import { AppError } from '../../lib/errors';
import type { WechatApi } from '../../lib/adapters/wechat-access-token';
import { createWechatPhone, maskPhone } from '../../lib/adapters/wechat-phone';
import { failure } from '../support/failure';

const APP_ID = 'wx1234567890abcdef';
const CODE = 'e31968a7f94cc5ee25fafc2aef2773f0bb8c3937b22520eb8ee345274d00c144';
const OPENID = 'oRhHa1XxnSTM2w3ybVq7VL6Hb';

/** Answers as WechatApi hands them over: parsed JSON, recorded from WeChat's docs and real calls. */
const RECORDED = {
  china: {
    errcode: 0,
    errmsg: 'ok',
    phone_info: { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86', watermark: { timestamp: 1637744274, appid: APP_ID } },
  },
  chinaNumericCountryCode: {
    errcode: 0,
    errmsg: 'ok',
    phone_info: { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: 86, watermark: { timestamp: 1637744274, appid: APP_ID } },
  },
  usa: {
    errcode: 0,
    errmsg: 'ok',
    phone_info: { phoneNumber: '+1 4155550123', purePhoneNumber: '4155550123', countryCode: '1', watermark: { timestamp: 1637744274, appid: APP_ID } },
  },
  invalidCode: { errcode: 40029, errmsg: 'invalid code, rid: 652d44d0-1d0af18b-5b069232' },
  quota: { errcode: 45011, errmsg: 'api minute-quota reach limit  mustslower  retry next minute, rid: 1' },
  unauthorized: { errcode: 48001, errmsg: 'api unauthorized, rid: 6512a1b2-0c9d8e7f-1a2b3c4d' },
  appidMismatch: { errcode: 40013, errmsg: 'invalid appid, rid: 623ea70a-74b9b592-3e3d489a' },
};

type Answer = Record<string, unknown>;

function phone(answer: Answer | (() => Promise<Answer>)) {
  const post = vi.fn<WechatApi['post']>(async () => (typeof answer === 'function' ? answer() : structuredClone(answer)));
  return { phone: createWechatPhone({ post, get: vi.fn() }, { appId: APP_ID }), post };
}

/** Everything an error lets anyone see. */
const visible = (err: AppError) => JSON.stringify({ message: err.message, details: err.details, stack: err.stack });

/** A recorded success with phone_info fields replaced. */
function withInfo(changes: Record<string, unknown>): Answer {
  const answer = structuredClone(RECORDED.china);
  Object.assign(answer.phone_info, changes);
  return answer;
}

describe('Function: createWechatPhone', () => {
  describe('Method: getPhoneNumber', () => {
    it('POSTs the code and openid to getuserphonenumber, never re-sent (idempotent: false)', async () => {
      const { phone: client, post } = phone(RECORDED.china);
      await client.getPhoneNumber(CODE, OPENID);
      expect(post).toHaveBeenCalledExactlyOnceWith('/wxa/business/getuserphonenumber', { code: CODE, openid: OPENID }, { idempotent: false });
    });

    it.each([
      ['a Chinese number with countryCode as a string', RECORDED.china, { countryCode: '86', purePhoneNumber: '13800138000', phoneNumber: '13800138000' }],
      ['countryCode as a number', RECORDED.chinaNumericCountryCode, { countryCode: '86', purePhoneNumber: '13800138000', phoneNumber: '13800138000' }],
      ['a +1 number', RECORDED.usa, { countryCode: '1', purePhoneNumber: '4155550123', phoneNumber: '+1 4155550123' }],
      ['a +44 number without the space', withInfo({ phoneNumber: '+447700900123', purePhoneNumber: '7700900123', countryCode: '44' }), {
        countryCode: '44',
        purePhoneNumber: '7700900123',
        phoneNumber: '+447700900123',
      }],
    ])('reads %s', async (_name, answer, expected) => {
      await expect(phone(answer).phone.getPhoneNumber(CODE, OPENID)).resolves.toEqual(expected);
    });

    it('refuses an answer watermarked for another appid with WECHAT_ERROR, naming that appid but not the number', async () => {
      const answer = withInfo({ watermark: { timestamp: 1637744274, appid: 'wx-someone-else' } });
      const err = await failure(phone(answer).phone.getPhoneNumber(CODE, OPENID));
      expect({ code: err.code, status: err.status }).toEqual({ code: 'WECHAT_ERROR', status: 502 });
      expect(err.details).toMatchObject({ reason: 'watermark appid mismatch', watermarkAppid: 'wx-someone-else', action: expect.stringContaining('tampering') });
      expect(visible(err)).not.toContain('13800138000');
    });

    it.each([
      ['40029 (invalid, expired or used code)', 'INVALID_PHONE_CODE', 400, undefined, RECORDED.invalidCode],
      ['45011 (minute quota)', 'RATE_LIMITED', 429, 60, RECORDED.quota],
      ['48001 (API not authorized)', 'WECHAT_ERROR', 502, undefined, RECORDED.unauthorized],
      ['40013 (code of another mini-program)', 'WECHAT_ERROR', 502, undefined, RECORDED.appidMismatch],
      ['an undocumented errcode', 'WECHAT_ERROR', 502, undefined, { errcode: 61451, errmsg: 'invalid parameter' }],
    ])('maps %s to %s (%i)', async (_name, code, status, retryAfter, answer) => {
      const err = await failure(phone(answer).phone.getPhoneNumber(CODE, OPENID));
      expect({ code: err.code, status: err.status, retryAfter: err.retryAfterSeconds }).toEqual({ code, status, retryAfter });
      expect(err.details).toMatchObject({ api: '/wxa/business/getuserphonenumber', errcode: answer.errcode, errmsg: answer.errmsg });
      expect(visible(err)).not.toContain(CODE);
    });

    it('tells the operator what to do about 48001 and 40013', async () => {
      const unauthorized = await failure(phone(RECORDED.unauthorized).phone.getPhoneNumber(CODE, OPENID));
      expect(unauthorized.details?.action).toBe('the mini-program is not verified (认证) or is an individual one; getuserphonenumber is not available to it');
      const mismatch = await failure(phone(RECORDED.appidMismatch).phone.getPhoneNumber(CODE, OPENID));
      expect(mismatch.details?.action).toContain('WECHAT_APPID');
    });

    it.each([
      ['no phone_info', { errcode: 0, errmsg: 'ok' }, 'phone_info'],
      ['phone_info not an object', { errcode: 0, errmsg: 'ok', phone_info: '13800138000' }, 'phone_info'],
      ['a countryCode with letters', withInfo({ countryCode: '8a' }), 'countryCode'],
      ['a countryCode of 0', withInfo({ countryCode: 0 }), 'countryCode'],
      ['a fractional countryCode', withInfo({ countryCode: 86.5 }), 'countryCode'],
      ['a countryCode "+86"', withInfo({ countryCode: '+86' }), 'countryCode'],
      ['no countryCode', withInfo({ countryCode: undefined }), 'countryCode'],
      ['a purePhoneNumber with a dash', withInfo({ purePhoneNumber: '138-0013-8000' }), 'purePhoneNumber'],
      ['a purePhoneNumber of 16 digits', withInfo({ purePhoneNumber: '1380013800012345' }), 'purePhoneNumber'],
      ['a purePhoneNumber as a number', withInfo({ purePhoneNumber: 13800138000 }), 'purePhoneNumber'],
      ['a phoneNumber that is another number', withInfo({ phoneNumber: '13900139000' }), 'phoneNumber'],
      ['a phoneNumber with another country code', withInfo({ phoneNumber: '+1 13800138000' }), 'phoneNumber'],
      ['a phoneNumber with letters', withInfo({ phoneNumber: '1380013800O' }), 'phoneNumber'],
      ['no watermark', withInfo({ watermark: undefined }), 'watermark'],
      ['a watermark without appid', withInfo({ watermark: { timestamp: 1 } }), 'watermark'],
    ])('answers WECHAT_UNAVAILABLE to %s, naming the field but not the number', async (_name, answer, field) => {
      const err = await failure(phone(answer).phone.getPhoneNumber(CODE, OPENID));
      expect({ code: err.code, status: err.status }).toEqual({ code: 'WECHAT_UNAVAILABLE', status: 503 });
      expect(err.details).toMatchObject({ reason: 'malformed reply', field });
      expect(visible(err)).not.toMatch(/13800138000|13900139000/);
    });

    it('lets WechatApi’s own failures through as they are', async () => {
      const unavailable = new AppError('WECHAT_UNAVAILABLE', '/wxa/business/getuserphonenumber failed: timeout');
      const { phone: client } = phone(() => Promise.reject(unavailable));
      await expect(client.getPhoneNumber(CODE, OPENID)).rejects.toBe(unavailable);
    });
  });
});

describe('Function: maskPhone', () => {
  it.each([
    ['13800138000', '138****8000'],
    ['+1 4155550123', '+1 415****123'],
    ['4155550123', '415****123'],
    ['+44 7700900123', '+44 770****123'],
    ['123456789012345', '123********2345'],
    ['12345678', '12****78'],
    ['12345', '****5'],
    ['1234', '****'],
    ['', ''],
    ['138 0013 8000', '138****8000'],
    // Without the space the country code cannot be told apart: all of it counts as digits.
    ['+8613800138000', '861******8000'],
  ])('masks %s as %s', (input, masked) => {
    expect(maskPhone(input)).toBe(masked);
  });

  it('always hides at least 4 digits and never shows more than 7', () => {
    for (let length = 0; length <= 20; length++) {
      const digits = '9'.repeat(length);
      const masked = maskPhone(digits);
      const shown = masked.replace(/\*/g, '').length;
      expect(masked.length).toBe(length);
      expect(length - shown).toBeGreaterThanOrEqual(Math.min(4, length));
      expect(shown).toBeLessThanOrEqual(7);
    }
  });
});
