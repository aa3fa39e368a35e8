import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { WechatApi } from '../../lib/adapters/wechat-access-token';
import { createWechatSessionCheck } from '../../lib/adapters/wechat-session-check';
import { decryptOpenData } from '../../lib/opendata/decrypt';
import { MAX_CIPHERTEXT_BYTES, parseOpenDataRequest } from '../../lib/opendata/request';

const APPID = 'wx0000000000local';
const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const sessionKey = randomBytes(16).toString('base64');

/** What a wx API hands the page: the JSON encrypted as WeChat does (AES-128-CBC, PKCS#7). */
function encrypt(data: unknown, key = sessionKey, iv = randomBytes(16)) {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(key, 'base64'), iv);
  const ciphertext = Buffer.concat([cipher.update(typeof data === 'string' ? data : JSON.stringify(data), 'utf8'), cipher.final()]);
  return { ciphertext, iv, encryptedData: ciphertext.toString('base64'), ivText: iv.toString('base64') };
}
const werun = (watermark: object = { appid: APPID, timestamp: NOW / 1000 - 5 }) => ({ stepInfoList: [{ timestamp: NOW / 1000 - 86_400, step: 8021 }], watermark });
const decrypt = (sealed: { ciphertext: Buffer; iv: Buffer }, key = sessionKey) => decryptOpenData({ sessionKey: key, ...sealed, appid: APPID, now: NOW, maxAgeSeconds: 600 });
const event = (body: object | string) => ({ body: typeof body === 'string' ? body : JSON.stringify(body), isBase64Encoded: false, headers: { 'content-type': 'application/json' } });

describe('Function: decryptOpenData', () => {
  it('answers the data without its watermark', () => {
    expect(decrypt(encrypt(werun()))).toEqual({ ok: true, data: { stepInfoList: [{ timestamp: NOW / 1000 - 86_400, step: 8021 }] } });
    expect(decrypt(encrypt({ openGId: 'G-1', watermark: { appid: APPID, timestamp: NOW / 1000 } }))).toEqual({ ok: true, data: { openGId: 'G-1' } });
  });

  it('reads another key’s data, bad padding and non-JSON alike as undecryptable (a stale key), never throwing', () => {
    expect(decrypt(encrypt(werun()), randomBytes(16).toString('base64'))).toEqual({ ok: false, reason: 'undecryptable' });
    expect(decrypt(encrypt('not json at all'))).toEqual({ ok: false, reason: 'undecryptable' });
    expect(decrypt(encrypt('[1,2]'))).toEqual({ ok: false, reason: 'undecryptable' });
    expect(decrypt({ ciphertext: randomBytes(32), iv: randomBytes(16) })).toMatchObject({ ok: false });
    expect(decrypt(encrypt(werun()), 'not a key')).toEqual({ ok: false, reason: 'undecryptable' });
  });

  it('refuses another app’s data, a missing watermark, and data older than the age allowed', () => {
    expect(decrypt(encrypt(werun({ appid: 'wx-other', timestamp: NOW / 1000 })))).toEqual({ ok: false, reason: 'wrong-app' });
    expect(decrypt(encrypt({ stepInfoList: [] }))).toEqual({ ok: false, reason: 'no-watermark' });
    expect(decrypt(encrypt(werun({ appid: APPID })))).toEqual({ ok: false, reason: 'no-watermark' });
    expect(decrypt(encrypt(werun({ appid: APPID, timestamp: NOW / 1000 - 601 })))).toEqual({ ok: false, reason: 'too-old' });
    expect(decrypt(encrypt(werun({ appid: APPID, timestamp: NOW / 1000 + 3600 })))).toEqual({ ok: false, reason: 'too-old' });
    expect(decrypt(encrypt(werun({ appid: APPID, timestamp: NOW / 1000 - 599 })))).toMatchObject({ ok: true });
  });
});

describe('Function: parseOpenDataRequest', () => {
  it('takes what a wx API resolves with', () => {
    const sealed = encrypt(werun());
    expect(parseOpenDataRequest(event({ encryptedData: sealed.encryptedData, iv: sealed.ivText }))).toEqual({ ciphertext: sealed.ciphertext, iv: sealed.iv });
  });

  it('refuses anything else with OPENDATA_MALFORMED (or INVALID_REQUEST for a body that is not JSON), before any key', () => {
    const { encryptedData, ivText } = encrypt(werun());
    const malformed = [
      {},
      { encryptedData },
      { encryptedData: 5, iv: ivText },
      { encryptedData, iv: 'not base64!' },
      { encryptedData, iv: randomBytes(12).toString('base64') },
      { encryptedData: `${encryptedData}A`, iv: ivText },
      { encryptedData: randomBytes(24).toString('base64'), iv: ivText },
      { encryptedData: '', iv: ivText },
      { encryptedData: randomBytes(MAX_CIPHERTEXT_BYTES + 16).toString('base64'), iv: ivText },
    ];
    for (const body of malformed) expect(() => parseOpenDataRequest(event(body)), JSON.stringify(body).slice(0, 60)).toThrow(expect.objectContaining({ code: 'OPENDATA_MALFORMED', status: 400 }));
    expect(() => parseOpenDataRequest(event({ encryptedData, iv: ivText, cloudID: 'x' }))).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
    expect(() => parseOpenDataRequest(event('{"encryptedData":'))).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
  });
});

describe('Function: createWechatSessionCheck', () => {
  const KEY = 'o0q0otL8aEzpcZL/FT9WsQ==';
  it('signs with the session_key string as the HMAC key, as WeChat’s worked example does', () => {
    // WeChat's own example: hmac_sha256 of '{"foo":"bar"}' keyed with that session_key.
    expect(createHmac('sha256', KEY).update('{"foo":"bar"}').digest('hex')).toBe('654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b');
  });

  it('asks GET /wxa/checksession with the openid and hmac_sha256(session_key, ""), never the key, and reads 0 and 87009', async () => {
    const answers = [{ errcode: 0, errmsg: 'ok' }, { errcode: 87009, errmsg: 'invalid signature' }, { errcode: 40001, errmsg: 'invalid credential' }];
    const get = vi.fn<WechatApi['get']>(async () => answers.shift()!);
    const check = createWechatSessionCheck({ post: vi.fn(), get });
    await expect(check.check('o-user', KEY)).resolves.toBe('valid');
    expect(get).toHaveBeenCalledWith('/wxa/checksession', { openid: 'o-user', signature: createHmac('sha256', KEY).update('').digest('hex'), sig_method: 'hmac_sha256' }, { idempotent: true });
    expect(JSON.stringify(get.mock.calls)).not.toContain(KEY);
    await expect(check.check('o-user', KEY)).resolves.toBe('stale');
    await expect(check.check('o-user', KEY)).rejects.toMatchObject({ code: 'WECHAT_ERROR' });
  });
});
