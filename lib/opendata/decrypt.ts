import { createDecipheriv } from 'node:crypto';

/** What a decryption gives: the data (its watermark checked, and taken off), or why it could not. */
export type Decrypted =
  | { ok: true; data: Record<string, unknown> }
  /** Bad padding or not a JSON object: what a wrong (stale) key looks like. Ask WeChat. */
  | { ok: false; reason: 'undecryptable' }
  /** It decrypted to JSON, but not this app's, or too old to take. */
  | { ok: false; reason: 'wrong-app' | 'too-old' | 'no-watermark' };

/**
 * WeChat's open data: AES-128-CBC with PKCS#7 padding, the key and iv the base64-decoded
 * session_key and iv; the plaintext a JSON object whose `watermark` names the app and when it
 * was made (epoch seconds). Never throws: a wrong key is an answer, not an error.
 */
export function decryptOpenData(input: { sessionKey: string; ciphertext: Buffer; iv: Buffer; appid: string; now: number; maxAgeSeconds: number }): Decrypted {
  const key = Buffer.from(input.sessionKey, 'base64');
  if (key.length !== 16) return { ok: false, reason: 'undecryptable' };
  let plaintext: string;
  try {
    const decipher = createDecipheriv('aes-128-cbc', key, input.iv);
    plaintext = Buffer.concat([decipher.update(input.ciphertext), decipher.final()]).toString('utf8');
  } catch {
    return { ok: false, reason: 'undecryptable' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext);
  } catch {
    return { ok: false, reason: 'undecryptable' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, reason: 'undecryptable' };
  const { watermark, ...data } = parsed as Record<string, unknown>;
  if (watermark === null || typeof watermark !== 'object') return { ok: false, reason: 'no-watermark' };
  const { appid, timestamp } = watermark as { appid?: unknown; timestamp?: unknown };
  if (appid !== input.appid) return { ok: false, reason: 'wrong-app' };
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) return { ok: false, reason: 'no-watermark' };
  const age = input.now / 1000 - timestamp;
  // A minute of clock skew the other way is WeChat's clock, not a forgery.
  if (age > input.maxAgeSeconds || age < -60) return { ok: false, reason: 'too-old' };
  return { ok: true, data };
}
