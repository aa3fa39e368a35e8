import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { onlyKeys, readJsonObject } from '../http/body';

/** The largest ciphertext taken: WeRun's 31 days are ~3 KiB; 16 KiB leaves room and bounds the work. */
export const MAX_CIPHERTEXT_BYTES = 16 * 1024;
/**
 * `{"encryptedData": "<16 KiB in base64>", "iv": "…"}` is ~22 KiB: 32 KiB lets a ciphertext a
 * little over the limit reach the check that names it (OPENDATA_MALFORMED).
 */
export const MAX_BODY_BYTES = 32 * 1024;

/** Strict standard base64 (what wx APIs hand out), padding included. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface OpenDataRequest {
  ciphertext: Buffer;
  iv: Buffer;
}

const malformed = (message: string) => new AppError('OPENDATA_MALFORMED', message);

/**
 * POST /user/opendata's body, `{"encryptedData": "…", "iv": "…"}` as a wx API resolves them
 * (wx.getWeRunData, wx.getShareInfo, wx.getGroupEnterInfo, the chat tool's), well formed or
 * refused with OPENDATA_MALFORMED before any key is touched: valid base64, a 16-byte iv, and a
 * ciphertext that is a positive multiple of 16 bytes and at most MAX_CIPHERTEXT_BYTES.
 */
export function parseOpenDataRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): OpenDataRequest {
  const body = readJsonObject(event, { maxBytes: MAX_BODY_BYTES });
  onlyKeys(body, ['encryptedData', 'iv'], '{"encryptedData": "...", "iv": "..."} as the wx API resolved them');
  const { encryptedData, iv } = body;
  if (typeof encryptedData !== 'string' || typeof iv !== 'string') throw malformed('"encryptedData" and "iv" are required: the strings the wx API resolved with.');
  if (!BASE64.test(iv)) throw malformed('"iv" is not base64.');
  const ivBytes = Buffer.from(iv, 'base64');
  if (ivBytes.length !== 16) throw malformed(`"iv" must be 16 bytes, got ${ivBytes.length}.`);
  if (!BASE64.test(encryptedData)) throw malformed('"encryptedData" is not base64.');
  const ciphertext = Buffer.from(encryptedData, 'base64');
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw malformed('"encryptedData" must be a whole number of 16-byte blocks.');
  if (ciphertext.length > MAX_CIPHERTEXT_BYTES) throw malformed(`"encryptedData" is at most ${MAX_CIPHERTEXT_BYTES} bytes.`);
  return { ciphertext, iv: ivBytes };
}
