import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Session tokens and what we keep about them at rest.
 *
 * Redis never holds a raw token: sessions are keyed by SHA-256(token). Anything that must be
 * recoverable later is sealed (AES-256-GCM) under a key derived from a credential only the
 * client holds, so a leaked Redis dump yields neither tokens nor session_keys.
 */
const TOKEN_BYTES = 32;

/** 32 random bytes, base64url: 43 characters, opaque, unrelated to the user's identity. */
export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

function sha256(input: string): Buffer {
  return createHash('sha256').update(input, 'utf8').digest();
}

/** The Redis key material of a session. A 256-bit random token needs no salt. */
export function hashToken(token: string): string {
  return sha256(token).toString('base64url');
}

/**
 * Domain-separated digests of one secret, so the id a value is stored under and the key it
 * is sealed with are unrelated even though both come from the same login code or token.
 */
export function deriveId(purpose: string, secret: string): string {
  return sha256(`wxlogin/${purpose}/id/v1\0${secret}`).toString('base64url');
}

function deriveKey(purpose: string, secret: string): Buffer {
  return sha256(`wxlogin/${purpose}/key/v1\0${secret}`);
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM under a key derived from `secret`; output is base64url(iv | tag | ciphertext). */
export function seal(purpose: string, secret: string, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(purpose, secret), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** Opens what `seal` produced; throws if the secret is wrong or the data was altered. */
export function open(purpose: string, secret: string, sealed: string): string {
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', deriveKey(purpose, secret), raw.subarray(0, IV_BYTES));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
