import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { readJsonObject } from '../http/body';

/** `{"nickname": "..."}` and nothing else: an unknown key is named in the 400. The value is checked by validNickname. */
export function parseNicknameRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): { nickname: unknown } {
  const body = readJsonObject(event, { maxBytes: 1024 });
  const unknown = Object.keys(body).find((key) => key !== 'nickname');
  if (unknown !== undefined) throw new AppError('INVALID_REQUEST', `Unknown field "${unknown.slice(0, 40)}": the body is {"nickname": "..."}.`);
  if (body.nickname === undefined) throw new AppError('INVALID_REQUEST', '"nickname" is required.');
  return { nickname: body.nickname };
}
