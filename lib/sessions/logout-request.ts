import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { onlyKeys, readJsonObject } from '../http/body';

/**
 * An empty body, `{}` or `{"all": false}` logs out this session; `{"all": true}` logs out every
 * session of the user. Anything else, an unknown key included, is INVALID_REQUEST.
 */
export function parseLogoutRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): { all: boolean } {
  const body = readJsonObject(event, { maxBytes: 1024, optional: true });
  onlyKeys(body, ['all'], 'none, {} or {"all": true|false}');
  const { all } = body;
  if (all !== undefined && typeof all !== 'boolean') throw new AppError('INVALID_REQUEST', '"all" must be true or false.');
  return { all: all === true };
}
