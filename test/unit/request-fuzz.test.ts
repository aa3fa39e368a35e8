import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { CODE_PATTERN, parseLoginRequest } from '../../lib/login/request';

const ALLOWED = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-'];

/** Bodies shaped like what clients (and attackers) send. */
const body = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.record({ code: fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 2 })) }).map((v) => JSON.stringify(v)),
  fc.string({ unit: fc.constantFrom(...ALLOWED), minLength: 0, maxLength: 140 }).map((code) => JSON.stringify({ code })),
);
const contentType = fc.option(
  fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', ''), fc.string({ maxLength: 40 })),
  { nil: undefined },
);
const event = fc.record({ body: fc.option(body, { nil: undefined }), contentType, isBase64Encoded: fc.boolean() }).map((e) => ({
  body: e.isBase64Encoded && e.body !== undefined ? Buffer.from(e.body).toString('base64') : e.body,
  headers: e.contentType === undefined ? {} : { 'content-type': e.contentType },
  isBase64Encoded: e.isBase64Encoded,
}));

describe('Function: parseLoginRequest (property-based)', () => {
  it('either returns a code matching the pattern or rejects with INVALID_REQUEST — nothing else', () => {
    fc.assert(
      fc.property(event, (e) => {
        try {
          const { code } = parseLoginRequest(e);
          expect(code).toMatch(CODE_PATTERN);
        } catch (err) {
          expect(err).toBeInstanceOf(AppError);
          expect((err as AppError).code).toBe('INVALID_REQUEST');
          expect((err as AppError).status).toBe(400);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every code of 1–128 allowed characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...ALLOWED), minLength: 1, maxLength: 128 }), (code) => {
        expect(parseLoginRequest({ body: JSON.stringify({ code }), headers: {}, isBase64Encoded: false })).toEqual({ code });
      }),
    );
  });

  it('rejects every code holding a character outside the allowed set', () => {
    const outsider = fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' }).filter((ch) => !ALLOWED.includes(ch));
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...ALLOWED), maxLength: 60 }), outsider, fc.nat(60), (code, bad, at) => {
        const poisoned = code.slice(0, at) + bad + code.slice(at);
        expect(() => parseLoginRequest({ body: JSON.stringify({ code: poisoned }), headers: {}, isBase64Encoded: false })).toThrow(
          expect.objectContaining({ code: 'INVALID_REQUEST' }),
        );
      }),
    );
  });

  it('refuses every body with a key besides "code", naming it', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...ALLOWED), minLength: 1, maxLength: 128 }),
        fc.string({ maxLength: 60 }).filter((key) => key !== 'code'),
        fc.jsonValue({ maxDepth: 1 }),
        (code, key, value) => {
          const body = JSON.stringify({ code, [key]: value });
          expect(() => parseLoginRequest({ body, headers: {}, isBase64Encoded: false })).toThrow(
            expect.objectContaining({ code: 'INVALID_REQUEST', message: expect.stringContaining(`Unknown field "${key.slice(0, 40)}"`) }),
          );
        },
      ),
    );
  });
});
