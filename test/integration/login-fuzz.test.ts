import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { CODE_PATTERN } from '../../lib/login/request';
import { httpEvent } from '../support/events';
import { coldStart, useLocalStack, type Handler } from '../support/local';

const ALLOWED = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-'];
/** Codes the WeChat stub treats as instructions (faults, delays) rather than logins. */
const STUB_KEYWORD = /^(errcode\.|delay\.|http\.|html$|empty$|drop$)/;

const code = fc.oneof(
  fc.string({ unit: fc.constantFrom(...ALLOWED), minLength: 1, maxLength: 128 }).filter((c) => !STUB_KEYWORD.test(c)),
  fc.string({ maxLength: 150 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const body = fc.oneof(
  code.map((c) => JSON.stringify({ code: c })),
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.constant(JSON.stringify({ code: 'x'.repeat(5000) })),
);
const request = fc.record({
  body: fc.option(body, { nil: undefined }),
  contentType: fc.option(fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8', 'multipart/form-data'), {
    nil: undefined,
  }),
  isBase64Encoded: fc.boolean(),
});

/**
 * Any body/header combination through the real login function, against the local stack:
 * 200 or a 4xx with the standard error body — never a 5xx — and WeChat is called only for a
 * request whose code is valid.
 */
describe('Function: login, fuzzed (integration)', () => {
  const ctx = useLocalStack();
  let login: Handler;

  beforeAll(async () => {
    login = await coldStart('login', ctx.env);
  });

  it('answers 200 or a 4xx with the standard body, and calls WeChat only for valid codes', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const event = httpEvent({
          body: r.isBase64Encoded && r.body !== undefined ? Buffer.from(r.body).toString('base64') : r.body,
          headers: r.contentType ? { 'content-type': r.contentType } : {},
          isBase64Encoded: r.isBase64Encoded,
        });
        const before = ctx.stack.wechat.stats.calls;
        const result = await login(event);

        expect(result.headers?.['content-type']).toBe('application/json');
        const parsed = JSON.parse(result.body!);
        if (result.statusCode === 200) {
          expect(parsed).toHaveProperty('token');
        } else {
          expect(result.statusCode).toBeGreaterThanOrEqual(400);
          expect(result.statusCode).toBeLessThan(500);
          expect(parsed).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
        }

        let sent: unknown;
        try {
          sent = JSON.parse(r.body ?? '').code;
        } catch {
          sent = undefined;
        }
        const validCode = typeof sent === 'string' && CODE_PATTERN.test(sent);
        const jsonType = !r.contentType || r.contentType.startsWith('application/json');
        if (!(validCode && jsonType)) expect(ctx.stack.wechat.stats.calls).toBe(before);
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});
