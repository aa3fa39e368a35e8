import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { onlyKeys, readJsonObject } from '../http/body';
import { CODE_PATTERN } from '../login/request';

/**
 * `{"code": "<a fresh wx.login code>"}` and nothing else: deleting an account re-authenticates.
 * (`wx.request` sends a JSON body reliably only with POST, hence POST /user/delete.)
 */
export function parseDeleteRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): { code: string } {
  const body = readJsonObject(event, { maxBytes: 1024 });
  onlyKeys(body, ['code'], '{"code": "..."}');
  const { code } = body;
  if (typeof code !== 'string' || !CODE_PATTERN.test(code)) {
    throw new AppError('INVALID_REQUEST', '"code" must be a fresh wx.login() code: 1–128 characters from A–Z, a–z, 0–9 and . _ ~ -');
  }
  return { code };
}
