import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWechatStub, type RunningWechatStub } from '../../local/wechat-stub';

/**
 * The stub's access-token, phone-number and content-check endpoints, asked directly over HTTP:
 * the shapes, content type and refusals the WeChat adapters in lib/adapters/ are built against.
 */
describe('Local WeChat stub: stable_token, getuserphonenumber and msg_sec_check (integration)', () => {
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

  const OPENID = 'oStubContentCheck0000000000';
  const secCheck = async (content: string, token?: string, overrides: Record<string, unknown> = {}) =>
    post(`/wxa/msg_sec_check${token === undefined ? '' : `?access_token=${encodeURIComponent(token)}`}`, {
      version: 2,
      openid: OPENID,
      scene: 1,
      content,
      ...overrides,
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
  describe('POST /wxa/msg_sec_check', () => {
    it('answers pass (label 100) for ordinary text, in v2’s shape as text/plain JSON, and counts each call', async () => {
      const token = await currentToken();
      const before = stub.stats.contentChecks;
      const { status, type, body } = await secCheck(`小明 ${tag}`, token);
      expect({ status, type }).toEqual({ status: 200, type: 'text/plain' });
      expect(body).toEqual({
        errcode: 0,
        errmsg: 'ok',
        detail: [
          { strategy: 'content_model', errcode: 0, suggest: 'pass', label: 100, prob: 90 },
          { strategy: 'keyword', errcode: 0 },
        ],
        trace_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/),
        result: { suggest: 'pass', label: 100 },
      });
      expect(stub.stats.contentChecks - before).toBe(1);
    });

    it.each([
      ['text containing "review"', 'a review b', { suggest: 'review', label: 20001 }],
      ['text containing "risky"', 'a risky b', { suggest: 'risky', label: 20002 }],
      ['text containing both (the worse verdict wins)', 'review risky', { suggest: 'risky', label: 20002 }],
    ])('answers %s with that verdict in result and in the model’s detail', async (_name, content, result) => {
      const { body } = await secCheck(content, await currentToken());
      expect(body.result).toEqual(result);
      expect(body.detail[0]).toMatchObject({ strategy: 'content_model', ...result });
    });

    it('waits MS milliseconds for delay.MS.REST, then answers for REST', async () => {
      const token = await currentToken();
      const started = Date.now();
      const { body } = await secCheck('delay.300.risky', token);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(body.result.suggest).toBe('risky');
    });

    it.each([
      ['61010', 61010, 'code is expired'],
      ['44991', 44991, 'minute frequence'],
      ['45009', 45009, 'daily quota'],
      ['40003', 40003, 'invalid openid'],
      ['-1', -1, 'system error'],
    ])('answers errcode.%s with errcode %i and WeChat’s message, without a result', async (n, errcode, message) => {
      const { body } = await secCheck(`errcode.${n}`, await currentToken());
      expect(body).toEqual({ errcode, errmsg: expect.stringMatching(new RegExp(`${message}.*, rid: `)) });
    });

    it('refuses a missing, unknown or replaced access token with 40001, counting the refusals', async () => {
      const before = stub.stats.contentChecks;
      expect((await secCheck('hello')).body.errcode).toBe(40001);
      expect((await secCheck('hello', 'not-a-token')).body.errcode).toBe(40001);
      const old = await currentToken();
      stub.rotateToken();
      expect((await secCheck('hello', old)).body).toMatchObject({ errcode: 40001, errmsg: expect.stringContaining('access_token is invalid') });
      expect(stub.stats.contentChecks - before).toBe(3);
      expect((await secCheck('hello', await currentToken())).body.result.suggest).toBe('pass');
    });

    it.each([
      ['no version (v1)', { version: undefined }, 47001],
      ['version 1', { version: 1 }, 47001],
      ['version "2" as a string', { version: '2' }, 47001],
      ['no openid', { openid: undefined }, 47001],
      ['an empty openid', { openid: '' }, 47001],
      ['no content', { content: undefined }, 47001],
      ['content that is not a string', { content: 42 }, 47001],
      ['no scene', { scene: undefined }, 47001],
      ['scene 0', { scene: 0 }, 40129],
      ['scene 5', { scene: 5 }, 40129],
    ])('refuses a body with %s (errcode %i)', async (_name, overrides, errcode) => {
      expect((await secCheck('hello', await currentToken(), overrides)).body.errcode).toBe(errcode);
    });

    it('accepts every documented scene, 1 to 4', async () => {
      const token = await currentToken();
      for (const scene of [1, 2, 3, 4]) expect((await secCheck('hello', token, { scene })).body.result.suggest).toBe('pass');
    });

    it('refuses an empty body with 44002, a body that is not JSON with 47001, and GET with 43002', async () => {
      const url = `${stub.url}/wxa/msg_sec_check?access_token=${await currentToken()}`;
      const empty = await fetch(url, { method: 'POST', body: '' });
      expect(JSON.parse(await empty.text())).toMatchObject({ errcode: 44002, errmsg: expect.stringContaining('empty post data') });
      const form = await fetch(url, { method: 'POST', body: 'content=hello' });
      expect(JSON.parse(await form.text()).errcode).toBe(47001);
      const get = await fetch(url);
      expect(JSON.parse(await get.text()).errcode).toBe(43002);
    });
  });
});
