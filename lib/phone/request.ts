import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { onlyKeys, readJsonObject } from '../http/body';

/** getPhoneNumber's `e.detail.code`: 1–128 URL-safe characters (WeChat's are 64 hex digits today). */
export const PHONE_CODE_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;
const MAX_BODY_BYTES = 1024;

/** `{"code": "<e.detail.code>"}` and nothing else: an unknown key is named in the 400. */
export function parsePhoneRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): { code: string } {
  const body = readJsonObject(event, { maxBytes: MAX_BODY_BYTES });
  onlyKeys(body, ['code'], '{"code": "..."}');
  const { code } = body;
  if (code === undefined) throw new AppError('INVALID_REQUEST', '"code" is required: the e.detail.code of the getPhoneNumber button.');
  if (typeof code !== 'string' || !PHONE_CODE_PATTERN.test(code)) {
    throw new AppError('INVALID_REQUEST', '"code" must be 1–128 characters from A–Z, a–z, 0–9 and . _ ~ -');
  }
  return { code };
}
