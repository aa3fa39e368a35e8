import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWechatStub, type RunningWechatStub } from '../../local/wechat-stub';

/**
 * The stub's access-token and phone-number endpoints, asked directly over HTTP: the shapes,
 * content type and refusals the clients in lib/wechat/ are built against.
 */
describe('Local WeChat stub: stable_token and getuserphonenumber (integration)', () => {
  const appId = 'wx00000000stubtest';
  const appSecret = randomBytes(16).toString('hex');
  let stub: RunningWechatStub;
  /** A fresh code suffix per test, so "each exact code once" never spills between tests. */
  let tag: string;

  beforeAll(async () => {
    stub = await startWechatStub({ appId, appSecret });
  });
  afterAll(async () => {
    await stub?.close();
  });
  beforeEach(() => {
    tag = randomBytes(4).toString('hex');
  });

  async function post(path: string, body: unknown): Promise<{ status: number; type: string | null; body: Record<string, any> }> {
    const res = await fetch(stub.url + path, { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, type: res.headers.get('content-type'), body: JSON.parse(await res.text()) };
  }

  const stableToken = (overrides: Record<string, unknown> = {}) =>
    post('/cgi-bin/stable_token', { grant_type: 'client_credential', appid: appId, secret: appSecret, force_refresh: false, ...overrides });

  async function currentToken(): Promise<string> {
    const { body } = await stableToken();
    return body.access_token as string;
  }

  const phone = async (code: string, token?: string) =>
    post(`/wxa/business/getuserphonenumber${token === undefined ? '' : `?access_token=${encodeURIComponent(token)}`}`, {
      code,
      openid: 'o-anyone',
    });

  describe('POST /cgi-bin/stable_token', () => {
    it('hands out the same current token (64+ characters, expires_in 7200) as text/plain JSON, and counts each call', async () => {
      const before = stub.stats.stableTokenCalls;
      const first = await stableToken();
      const second = await stableToken();
      expect(first.status).toBe(200);
      expect(first.type).toBe('text/plain');
      expect(first.body).toEqual({ access_token: expect.stringMatching(/^[A-Za-z0-9_-]{64,}$/), expires_in: 7200 });
      expect(second.body.access_token).toBe(first.body.access_token);
      expect(stub.stats.stableTokenCalls - before).toBe(2);
      expect(stub.stats.accessTokens).toContain(first.body.access_token);
    });

    it.each([
      ['a wrong appid', { appid: 'wx-not-ours' }, 40013],
      ['a wrong secret', { secret: 'not-the-secret' }, 40125],
      ['another grant_type', { grant_type: 'authorization_code' }, 40002],
    ])('refuses %s with errcode %i', async (_name, overrides, errcode) => {
      const { body } = await stableToken(overrides);
      expect(body).toMatchObject({ errcode, errmsg: expect.stringContaining('rid:') });
      expect(body.access_token).toBeUndefined();
    });

    it('replaces the token on force_refresh, as WeChat does', async () => {
      const old = await currentToken();
      const { body } = await stableToken({ force_refresh: true });
      expect(body.access_token).not.toBe(old);
      expect((await phone(`13800138000.${tag}`, old)).body.errcode).toBe(40001);
    });
  });

  describe('POST /wxa/business/getuserphonenumber', () => {
    it('answers DIGITS with countryCode "86" and that number, watermarked with the appid and now', async () => {
      const before = stub.stats.phoneCalls;
      const { status, type, body } = await phone(`13800138000.${tag}`, await currentToken());
      expect({ status, type }).toEqual({ status: 200, type: 'text/plain' });
      expect(body).toEqual({
        errcode: 0,
        errmsg: 'ok',
        phone_info: {
          phoneNumber: '13800138000',
          purePhoneNumber: '13800138000',
          countryCode: '86',
          watermark: { appid: appId, timestamp: expect.any(Number) },
        },
      });
      expect(Math.abs(body.phone_info.watermark.timestamp - Date.now() / 1000)).toBeLessThan(5);
      expect(stub.stats.phoneCalls - before).toBe(1);
    });

    it('accepts a bare DIGITS code of 5 to 15 digits, and no other length', async () => {
      const token = await currentToken();
      // Bare codes are global: make them unique per run with random digits.
      const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');
      const five = digits(5);
      const fifteen = digits(15);
      expect((await phone(five, token)).body.phone_info.purePhoneNumber).toBe(five);
      expect((await phone(fifteen, token)).body.phone_info.purePhoneNumber).toBe(fifteen);
      expect((await phone(digits(4), token)).body.errcode).toBe(40029);
      expect((await phone(digits(16), token)).body.errcode).toBe(40029);
    });

    it('answers CC-DIGITS with that country code and "+CC DIGITS"', async () => {
      const { body } = await phone(`1-4155550123.${tag}`, await currentToken());
      expect(body.phone_info).toMatchObject({ phoneNumber: '+1 4155550123', purePhoneNumber: '4155550123', countryCode: '1' });
    });

    it('sends a Chinese number given as 86-DIGITS without the +86, as WeChat does', async () => {
      const { body } = await phone(`86-13900139000.${tag}`, await currentToken());
      expect(body.phone_info).toMatchObject({ phoneNumber: '13900139000', countryCode: '86' });
    });

    it('sends countryCode as a JSON number when the code says numcc', async () => {
      const token = await currentToken();
      expect((await phone(`13800138000.numcc-${tag}`, token)).body.phone_info.countryCode).toBe(86);
      expect((await phone(`44-7700900123.numcc-${tag}`, token)).body.phone_info).toMatchObject({ countryCode: 44, phoneNumber: '+44 7700900123' });
    });

    it('accepts each exact code once, then answers 40029', async () => {
      const token = await currentToken();
      const code = `13800138000.${tag}`;
      expect(stub.phoneCodeConsumed(code)).toBe(false);
      expect((await phone(code, token)).body.errcode).toBe(0);
      expect(stub.phoneCodeConsumed(code)).toBe(true);
      expect((await phone(code, token)).body).toMatchObject({ errcode: 40029, errmsg: expect.stringContaining('invalid code') });
    });

    it.each([
      ['40029', 40029, 'invalid code'],
      ['45011', 45011, 'minute-quota'],
      ['48001', 48001, 'api unauthorized'],
      ['-1', -1, 'system error'],
    ])('answers errcode.%s with errcode %i and WeChat’s message, without consuming the code', async (n, errcode, message) => {
      const code = `errcode.${n}`;
      const { body } = await phone(code, await currentToken());
      expect(body).toMatchObject({ errcode, errmsg: expect.stringContaining(message) });
      expect(stub.phoneCodeConsumed(code)).toBe(false);
    });

    it('waits MS milliseconds for delay.MS.REST, then answers for REST', async () => {
      const started = Date.now();
      const { body } = await phone(`delay.300.13800138000.${tag}`, await currentToken());
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(body.phone_info.purePhoneNumber).toBe('13800138000');
    });

    it('refuses a missing, unknown or replaced access token with 40001, without consuming the code', async () => {
      const code = `13800138000.${tag}`;
      expect((await phone(code)).body.errcode).toBe(40001);
      expect((await phone(code, 'not-a-token')).body.errcode).toBe(40001);
      const old = await currentToken();
      stub.rotateToken();
      expect((await phone(code, old)).body.errcode).toBe(40001);
      expect(stub.phoneCodeConsumed(code)).toBe(false);
      const fresh = await currentToken();
      expect(fresh).not.toBe(old);
      expect((await phone(code, fresh)).body.errcode).toBe(0);
    });

    it('plays rotate.REST once: 40001 and a new token from stable_token, then the answer for REST with it', async () => {
      const code = `rotate.1-4155550123.${tag}`;
      const old = await currentToken();
      const first = await phone(code, old);
      expect(first.body).toMatchObject({ errcode: 40001, errmsg: expect.stringContaining('access_token is invalid') });
      expect(stub.phoneCodeConsumed(code)).toBe(false);
      // The old token is dead for every code now, not only for this one.
      expect((await phone(`13800138000.${tag}`, old)).body.errcode).toBe(40001);
      const fresh = await currentToken();
      expect(fresh).not.toBe(old);
      const retry = await phone(code, fresh);
      expect(retry.body.phone_info).toMatchObject({ phoneNumber: '+1 4155550123', countryCode: '1' });
      expect(stub.phoneCodeConsumed(code)).toBe(true);
      expect((await phone(code, fresh)).body.errcode).toBe(40029);
    });

    it('answers a code of no known shape with 40029', async () => {
      expect((await phone(`alice.${tag}`, await currentToken())).body.errcode).toBe(40029);
    });

    it('refuses a body that is not a JSON object with a code (47001)', async () => {
      const token = await currentToken();
      const res = await fetch(`${stub.url}/wxa/business/getuserphonenumber?access_token=${token}`, { method: 'POST', body: 'code=1' });
      expect(JSON.parse(await res.text()).errcode).toBe(47001);
    });
  });
});
