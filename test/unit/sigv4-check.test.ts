import { describe, expect, it } from 'vitest';
import { verifySigV4 } from '../../local/sigv4-check.mjs';

/**
 * npm run dev's stand-in for API Gateway's AWS_IAM check (local/sigv4-check.mjs), against AWS's
 * own Signature Version 4 test suite ("get-vanilla", "post-x-www-form-urlencoded"): what it
 * accepts and every way a request fails it. test/integration/admin.test.ts signs with curl.
 */
const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', region: 'us-east-1', service: 'service' };
const AT = Date.UTC(2015, 7, 30, 12, 36, 0);
const vanilla = {
  method: 'GET',
  url: '/',
  headers: {
    host: 'example.amazonaws.com',
    'x-amz-date': '20150830T123600Z',
    authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  },
};

describe('Function: verifySigV4', () => {
  it('accepts AWS’s get-vanilla request and names the caller as API Gateway does', () => {
    expect(verifySigV4(vanilla, CREDENTIALS, AT)).toMatchObject({ ok: true, iam: { accessKey: 'AKIDEXAMPLE', userArn: expect.stringMatching(/^arn:aws:iam::\d{12}:user\//) } });
  });

  it('refuses it altered in any signed part, late, for another service or key, or without a signature', () => {
    const refused = (change: { method?: string; url?: string; headers?: Record<string, string> }, now = AT) => verifySigV4({ ...vanilla, ...change, headers: { ...vanilla.headers, ...(change.headers ?? {}) } }, CREDENTIALS, now);
    expect(refused({ method: 'POST' })).toMatchObject({ ok: false, reason: expect.stringContaining('does not match') });
    expect(refused({ url: '/admin' })).toMatchObject({ ok: false });
    expect(refused({ url: '/?a=b' })).toMatchObject({ ok: false });
    expect(refused({ headers: { host: 'evil.example' } })).toMatchObject({ ok: false });
    expect(refused({ body: 'x' } as never)).toMatchObject({ ok: false });
    expect(refused({}, AT + 6 * 60_000)).toMatchObject({ ok: false, reason: expect.stringContaining('expired') });
    expect(verifySigV4(vanilla, { ...CREDENTIALS, service: 'execute-api' }, AT)).toMatchObject({ ok: false, reason: expect.stringContaining('service') });
    expect(verifySigV4(vanilla, { ...CREDENTIALS, accessKeyId: 'local' }, AT)).toMatchObject({ ok: false, reason: expect.stringContaining('access key') });
    expect(verifySigV4(vanilla, { ...CREDENTIALS, secretAccessKey: 'other' }, AT)).toMatchObject({ ok: false });
    expect(refused({ headers: { authorization: 'Bearer ' + 'T'.repeat(43) } })).toMatchObject({ ok: false, reason: expect.stringContaining('session token') });
    expect(verifySigV4({ ...vanilla, headers: { host: 'example.amazonaws.com' } }, CREDENTIALS, AT)).toMatchObject({ ok: false, reason: expect.stringContaining('no Authorization') });
  });

  it('checks the body: AWS’s post-x-www-form-urlencoded request, and the same with another body', () => {
    const post = {
      method: 'POST',
      url: '/',
      body: 'Param1=value1',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        host: 'example.amazonaws.com',
        'x-amz-date': '20150830T123600Z',
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
      },
    };
    expect(verifySigV4(post, CREDENTIALS, AT)).toMatchObject({ ok: true });
    expect(verifySigV4({ ...post, body: 'Param1=value2' }, CREDENTIALS, AT)).toMatchObject({ ok: false });
  });
});
