import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import type { PushRequest } from './service';

/**
 * Far above any push (an authorization event is a few hundred bytes, encrypted under a
 * kilobyte; a customer-service text message a few kilobytes), far below API Gateway's 10 MB.
 */
export const MAX_PUSH_BYTES = 256 * 1024;

/**
 * A request to /wechat/events as the push use case reads it: the method, the query (API
 * Gateway decodes it) and the body as text, whatever its content type. WeChat's pushes say
 * JSON in their body, and their content type is not part of what is signed, so it is not
 * checked. A body API Gateway passed base64-encoded is decoded.
 */
export function readPushRequest(event: APIGatewayProxyEventV2): PushRequest & { method: string } {
  const raw = event.body ?? '';
  const tooLarge = () => new AppError('INVALID_REQUEST', `The body must be at most ${MAX_PUSH_BYTES} bytes.`);
  if (raw.length > (event.isBase64Encoded ? Math.ceil(MAX_PUSH_BYTES / 3) * 4 : MAX_PUSH_BYTES)) throw tooLarge();
  const body = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(body, 'utf8') > MAX_PUSH_BYTES) throw tooLarge();
  return {
    method: (event.requestContext?.http?.method ?? event.routeKey?.split(' ')[0] ?? '').toUpperCase(),
    query: event.queryStringParameters ?? {},
    body,
  };
}
