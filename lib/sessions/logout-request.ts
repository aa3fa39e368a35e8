import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { readJsonObject } from '../http/body';

/** An empty body logs out this session; `{"all": true}` logs out every session of the user. */
export function parseLogoutRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): { all: boolean } {
  const { all } = readJsonObject(event, { maxBytes: 1024, optional: true });
  if (all !== undefined && typeof all !== 'boolean') throw new AppError('INVALID_REQUEST', '"all" must be true or false.');
  return { all: all === true };
}
