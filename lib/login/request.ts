import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { readJsonObject } from '../http/body';

/** A wx.login() code as we accept it: 1–128 URL-safe characters, nothing that could bend a query string. */
export const CODE_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;
/** `{"code": "<128 chars>"}` is ~140 bytes; 1 KiB leaves room for whitespace and extra fields. */
export const MAX_BODY_BYTES = 1024;

export interface LoginRequest {
  code: string;
}

/**
 * Validates `{"code": "..."}` at the edge, before anything is called. One field, checked by
 * hand: a schema library would add to every cold start of the login bundle for a regex.
 */
export function parseLoginRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): LoginRequest {
  const { code } = readJsonObject(event, { maxBytes: MAX_BODY_BYTES });
  if (code === undefined) throw new AppError('INVALID_REQUEST', '"code" is required.');
  if (typeof code !== 'string') throw new AppError('INVALID_REQUEST', '"code" must be a string.');
  if (!CODE_PATTERN.test(code)) {
    throw new AppError('INVALID_REQUEST', '"code" must be 1–128 characters from A–Z, a–z, 0–9 and . _ ~ -');
  }
  return { code };
}
