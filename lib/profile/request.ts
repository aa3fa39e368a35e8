import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { onlyKeys, readJsonObject } from '../http/body';

/** `{"nickname": "..."}` and nothing else: an unknown key is named in the 400. The value is checked by validNickname. */
export function parseNicknameRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): { nickname: unknown } {
  const body = readJsonObject(event, { maxBytes: 1024 });
  onlyKeys(body, ['nickname'], '{"nickname": "..."}');
  if (body.nickname === undefined) throw new AppError('INVALID_REQUEST', '"nickname" is required.');
  return { nickname: body.nickname };
}
