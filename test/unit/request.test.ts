import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { parseDeleteRequest } from '../../lib/account/request';
import { agentSummary, clientNetwork, maskedNetwork, MAX_BODY_BYTES, parseLoginRequest } from '../../lib/login/request';
import { parsePhoneRequest } from '../../lib/phone/request';
import { parseNicknameRequest } from '../../lib/profile/request';
import { parseLogoutRequest } from '../../lib/sessions/logout-request';

const json = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => ({
  body,
  headers,
  isBase64Encoded: false,
});

function rejection(event: Parameters<typeof parseLoginRequest>[0]): AppError {
  try {
    parseLoginRequest(event);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected the request to be rejected');
}

describe('Function: parseLoginRequest', () => {
  it.each([
    ['a WeChat-shaped code', '0a3Xyz000ObAyK19vV1005SDWf0v0m0s'],
    ['a stub code with dots', 'alice.1'],
    ['every allowed punctuation mark', 'a.b_c~d-e'],
    ['one character', 'x'],
    ['128 characters', 'c'.repeat(128)],
  ])('accepts %s', (_name, code) => {
    expect(parseLoginRequest(json(JSON.stringify({ code })))).toEqual({ code });
  });

  it('refuses an unknown field next to the code, naming it', () => {
    const err = rejection(json('{"code":"abc","extra":{"x":1}}'));
    expect(err.code).toBe('INVALID_REQUEST');
    expect(err.message).toContain('"extra"');
  });

  it('takes the mini-program’s appid beside the code, and refuses one that cannot be an AppID', () => {
    expect(parseLoginRequest(json('{"code":"abc","appid":"wx1234567890abcdef"}'))).toEqual({ code: 'abc', appid: 'wx1234567890abcdef' });
    for (const appid of ['', 'wx 123', 'a'.repeat(65), 7, null]) {
      const err = rejection(json(JSON.stringify({ code: 'abc', appid })));
      expect(err.code, String(appid)).toBe('INVALID_REQUEST');
      expect(err.message).toContain('"appid"');
    }
  });

  it('accepts a charset parameter and a missing content type', () => {
    expect(parseLoginRequest(json('{"code":"abc"}', { 'content-type': 'application/json; charset=utf-8' }))).toEqual({ code: 'abc' });
    expect(parseLoginRequest(json('{"code":"abc"}', {}))).toEqual({ code: 'abc' });
    expect(parseLoginRequest({ body: '{"code":"abc"}', headers: {} as any, isBase64Encoded: false })).toEqual({ code: 'abc' });
  });

  it('decodes a base64-encoded body', () => {
    const body = Buffer.from('{"code":"bob.2"}').toString('base64');
    expect(parseLoginRequest({ body, headers: {}, isBase64Encoded: true })).toEqual({ code: 'bob.2' });
  });

  it.each([
    ['no body', undefined],
    ['an empty body', ''],
    ['whitespace', '   '],
    ['invalid JSON', '{"code":'],
    ['a JSON string', '"alice.1"'],
    ['a JSON array', '["alice.1"]'],
    ['JSON null', 'null'],
    ['a JSON number', '42'],
    ['a missing code', '{}'],
    ['a numeric code', '{"code":123}'],
    ['a null code', '{"code":null}'],
    ['an object code', '{"code":{"a":1}}'],
    ['an array code', '{"code":["a"]}'],
    ['an empty code', '{"code":""}'],
    ['a 129-character code', JSON.stringify({ code: 'c'.repeat(129) })],
    ['a code with a space', '{"code":"a b"}'],
    ['a code with &', '{"code":"a&secret=x"}'],
    ['a code with = and ?', '{"code":"a?b=c"}'],
    ['a code with #', '{"code":"a#b"}'],
    ['a code with %', '{"code":"a%26b"}'],
    ['a code with a slash', '{"code":"../x"}'],
    ['a non-ASCII code', '{"code":"登录码"}'],
    ['a code with a control character', '{"code":"a\\u0000b"}'],
    ['a code with a newline', '{"code":"a\\nb"}'],
  ])('rejects %s with INVALID_REQUEST', (_name, body) => {
    const err = rejection({ body, headers: { 'content-type': 'application/json' }, isBase64Encoded: false });
    expect(err.code).toBe('INVALID_REQUEST');
    expect(err.status).toBe(400);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'rejects content type %s',
    (contentType) => {
      const err = rejection(json('{"code":"abc"}', { 'content-type': contentType }));
      expect(err.code).toBe('INVALID_REQUEST');
      expect(err.message).toMatch(/Content-Type/);
    },
  );

  it('rejects an oversized body before parsing it', () => {
    const huge = `{"code":"abc","pad":"${'x'.repeat(1024 * 1024)}"}`;
    const err = rejection(json(huge));
    expect(err.code).toBe('INVALID_REQUEST');
    expect(err.message).toMatch(String(MAX_BODY_BYTES));
  });

  it('rejects an oversized base64 body before decoding it', () => {
    const body = Buffer.from(`{"code":"abc","pad":"${'x'.repeat(4096)}"}`).toString('base64');
    expect(rejection({ body, headers: {}, isBase64Encoded: true }).code).toBe('INVALID_REQUEST');
  });

  it('counts bytes, not characters, against the size limit', () => {
    const body = `{"code":"abc","pad":"${'登'.repeat(400)}"}`; // < 1024 chars, > 1024 bytes
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    expect(rejection(json(body)).code).toBe('INVALID_REQUEST');
  });
});

describe('Function: parseLoginRequest › X-Login-Proof', () => {
  const withProof = (proof: string) => json('{"code":"alice.1"}', { 'content-type': 'application/json', 'x-login-proof': proof });

  it.each([
    ['22 characters', 'a'.repeat(22)],
    ['43 characters (32 random bytes)', 'Ab0_-'.repeat(8) + 'xyz'],
    ['64 characters', 'z'.repeat(64)],
  ])('accepts a proof of %s', (_name, proof) => {
    expect(parseLoginRequest(withProof(proof))).toEqual({ code: 'alice.1', proof });
  });

  it.each([
    ['too short', 'a'.repeat(21)],
    ['too long', 'a'.repeat(65)],
    ['not base64url', `${'a'.repeat(30)}+/=`],
    ['empty', ''],
  ])('refuses a proof that is %s with INVALID_REQUEST naming the header', (_name, proof) => {
    const err = rejection(withProof(proof));
    expect(err.code).toBe('INVALID_REQUEST');
    expect(err.message).toContain('X-Login-Proof');
  });

  it('reads the header case-insensitively', () => {
    expect(parseLoginRequest(json('{"code":"alice.1"}', { 'X-Login-Proof': 'p'.repeat(22) }))).toEqual({ code: 'alice.1', proof: 'p'.repeat(22) });
  });
});

describe('Function: clientNetwork', () => {
  it.each([
    ['an IPv4 address, as is', '203.0.113.9', '203.0.113.9'],
    ['an IPv6 address, by its /64', '2001:db8:85a3:8d3:1319:8a2e:370:7348', '2001:db8:85a3:8d3::/64'],
    ['a compressed IPv6 address', '2001:db8::1', '2001:db8:0:0::/64'],
    ['the same /64 with other low bits', '2001:0db8:0000:0000:ffff::2', '2001:db8:0:0::/64'],
    ['upper case', '2001:DB8:AA:BB::1', '2001:db8:aa:bb::/64'],
    ['an IPv4-mapped IPv6 address, as its IPv4 address', '::ffff:198.51.100.4', '198.51.100.4'],
    ['a NAT64 address with an IPv4 tail', '64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
    ['the loopback', '::1', '0:0:0:0::/64'],
    ['nothing', undefined, 'unknown'],
    ['garbage', 'not-an-ip', 'unknown'],
  ])('names %s', (_name, ip, network) => {
    expect(clientNetwork(ip)).toBe(network);
  });
});

/** Every JSON body our own routes accept: its valid shapes, and the answer it parses to. */
const ROUTES: Array<{ route: string; parse: (event: ReturnType<typeof json>) => unknown; valid: Array<[string | undefined, unknown]>; base: Record<string, unknown> }> = [
  { route: 'POST /user/wechatlogin', parse: parseLoginRequest, valid: [['{"code":"alice.1"}', { code: 'alice.1' }]], base: { code: 'alice.1' } },
  {
    route: 'POST /user/logout',
    parse: parseLogoutRequest,
    valid: [
      [undefined, { all: false }],
      ['', { all: false }],
      ['{}', { all: false }],
      ['{"all":false}', { all: false }],
      ['{"all":true}', { all: true }],
    ],
    base: {},
  },
  { route: 'POST /user/phone', parse: parsePhoneRequest, valid: [['{"code":"0123abcd"}', { code: '0123abcd' }]], base: { code: '0123abcd' } },
  { route: 'POST /user/profile', parse: parseNicknameRequest, valid: [['{"nickname":"丽塔"}', { nickname: '丽塔' }]], base: { nickname: '丽塔' } },
  { route: 'POST /user/delete', parse: parseDeleteRequest, valid: [['{"code":"bob.2"}', { code: 'bob.2' }]], base: { code: 'bob.2' } },
];

describe('Strict request shapes: every JSON route refuses an unknown key', () => {
  const cases = ROUTES.flatMap(({ route, parse, valid }) => valid.map(([body, parsed]) => [route, body, parse, parsed] as const));
  it.each(cases)('%s accepts %s', (_route, body, parse, parsed) => {
    expect(parse({ ...json(''), body: body as string })).toEqual(parsed);
  });

  const unknownKeys: Array<[string, string, string]> = [
    ['a plain extra key', 'extra', '"extra"'],
    ['a near miss in case', 'All', '"All"'],
    ['everything', 'everything', '"everything"'],
    ['__proto__', '__proto__', '"__proto__"'],
    ['a long key, cut to 40 characters', 'k'.repeat(100), `"${'k'.repeat(40)}"`],
  ];
  const refusals = ROUTES.flatMap(({ route, parse, base }) => unknownKeys.map(([name, key, named]) => [route, name, parse, base, key, named] as const));
  it.each(refusals)('%s refuses %s with 400 INVALID_REQUEST naming it', (_route, _name, parse, base, key, named) => {
    const body = JSON.stringify(base).replace(/}$/, `${Object.keys(base).length ? ',' : ''}${JSON.stringify(key)}:true}`);
    let err: unknown;
    try {
      parse(json(body));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('INVALID_REQUEST');
    expect((err as AppError).status).toBe(400);
    expect((err as AppError).message).toContain(`Unknown field ${named}`);
    if (key.length > 40) expect((err as AppError).message).not.toContain(key.slice(0, 41));
  });

  it('logout refuses {"everything": true} and {"All": true} rather than revoke one session', () => {
    for (const body of ['{"everything":true}', '{"All":true}', '{"all":true,"extra":1}']) {
      expect(() => parseLogoutRequest(json(body))).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
    }
  });
});

describe('Function: maskedNetwork', () => {
  it('shows an IPv4 address by its /24 and an IPv6 /64 by its /48, nothing else', () => {
    expect(maskedNetwork(clientNetwork('198.51.100.77'))).toBe('198.51.100.0/24');
    expect(maskedNetwork(clientNetwork('::ffff:198.51.100.77'))).toBe('198.51.100.0/24');
    expect(maskedNetwork(clientNetwork('2001:db8:abcd:12:1::7'))).toBe('2001:db8:abcd::/48');
    expect(maskedNetwork(clientNetwork('2001:db8::1'))).toBe('2001:db8:0::/48');
    expect(maskedNetwork(clientNetwork(undefined))).toBe('unknown');
    expect(maskedNetwork('not a network')).toBe('unknown');
  });
});

describe('Function: agentSummary', () => {
  it('names the system and the WeChat version where it can, else the header’s start, printable only', () => {
    expect(agentSummary('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI')).toBe('iOS 17.1, WeChat 8.0.47');
    expect(agentSummary('Mozilla/5.0 (iPad; CPU OS 16_4 like Mac OS X) MicroMessenger/8.0.40')).toBe('iPadOS 16.4, WeChat 8.0.40');
    expect(agentSummary('Mozilla/5.0 (Linux; Android 14; Pixel 8) MicroMessenger/8.0.44.2502(0x28002C51)')).toBe('Android 14, WeChat 8.0.44');
    expect(agentSummary('Mozilla/5.0 (Windows NT 10.0; Win64; x64) wechatdevtools/1.06.2405020 MicroMessenger/8.0.5')).toBe('Windows, WeChat DevTools');
    expect(agentSummary('curl/8.5.0')).toBe('curl/8.5.0');
    expect(agentSummary(`x${'y'.repeat(100)}`)).toHaveLength(64);
    expect(agentSummary('bad\u0000\u202echars')).toBe('badchars');
    expect(agentSummary(undefined)).toBeUndefined();
    expect(agentSummary('  \u0001 ')).toBeUndefined();
  });
});
