import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveId, hashToken, newToken, open, seal, TOKEN_PATTERN } from '../../lib/crypto';
import { initOnce } from '../../lib/runtime';

describe('Module: lib/crypto', () => {
  it('makes 43-character base64url tokens, never the same twice', () => {
    const tokens = new Set(Array.from({ length: 1000 }, newToken));
    expect(tokens.size).toBe(1000);
    for (const token of tokens) expect(token).toMatch(TOKEN_PATTERN);
  });

  it('hashes a token to a stable digest that is not the token', () => {
    const token = newToken();
    expect(hashToken(token)).toBe(hashToken(token));
    expect(hashToken(token)).not.toBe(token);
    expect(hashToken(token)).not.toBe(hashToken(newToken()));
  });

  it('keeps derived ids apart by purpose', () => {
    expect(deriveId('login-code', 'abc')).not.toBe(deriveId('phone-code', 'abc'));
    expect(deriveId('login-code', 'abc')).toBe(deriveId('login-code', 'abc'));
  });

  it('opens what it sealed, for any text', () => {
    fc.assert(fc.property(fc.string(), fc.string({ minLength: 1 }), (plaintext, secret) => open('p', secret, seal('p', secret, plaintext)) === plaintext));
  });

  it('seals the same text differently each time (a random IV)', () => {
    expect(seal('p', 's', 'same')).not.toBe(seal('p', 's', 'same'));
  });

  it('refuses to open a sealed value with another secret or purpose', () => {
    const sealed = seal('session-key', 'token-1', 'the session_key');
    expect(() => open('session-key', 'token-2', sealed)).toThrow();
    expect(() => open('other-purpose', 'token-1', sealed)).toThrow();
  });

  it('refuses a sealed value altered anywhere: IV, tag or ciphertext, any single bit', () => {
    const sealed = seal('p', 's', 'a secret worth keeping');
    const raw = Buffer.from(sealed, 'base64url');
    for (let byte = 0; byte < raw.length; byte++) {
      const tampered = Buffer.from(raw);
      tampered[byte]! ^= 1 << byte % 8;
      expect(() => open('p', 's', tampered.toString('base64url')), `byte ${byte}`).toThrow();
    }
    expect(() => open('p', 's', raw.subarray(0, 27).toString('base64url'))).toThrow('sealed value too short');
  });
});

describe('Function: initOnce', () => {
  it('starts the work at once (the init phase), and every call shares its one result', async () => {
    let runs = 0;
    const ready = initOnce(async () => ++runs);
    expect(runs).toBe(1);
    await expect(Promise.all([ready(), ready(), ready()])).resolves.toEqual([1, 1, 1]);
    expect(runs).toBe(1);
  });

  it('tries again on the next call after a failure, instead of keeping the container broken', async () => {
    let runs = 0;
    const ready = initOnce(async () => {
      if (++runs === 1) throw new Error('SSM unreachable');
      return 'ready';
    });
    await expect(ready()).rejects.toThrow('SSM unreachable');
    await expect(ready()).resolves.toBe('ready');
    await expect(ready()).resolves.toBe('ready');
    expect(runs).toBe(2);
  });
});
