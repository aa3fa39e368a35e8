import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { onlyKeys, readJsonObject } from '../http/body';
import { parseSuspension as parseSuspensionFields } from './suspension';

/** `{"reason": "…", "until": "<ISO>"}`: a few hundred bytes. */
const MAX_BODY_BYTES = 2048;

/** PUT /admin/users/{id}/suspension's body: the reason (required) and the end time (optional), as the CLI takes them. */
export function parseSuspension(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): { reason: string; until?: Date } {
  const body = readJsonObject(event, { maxBytes: MAX_BODY_BYTES });
  onlyKeys(body, ['reason', 'until'], '{"reason": "...", "until": "<ISO time>"}');
  return parseSuspensionFields(body.reason, body.until);
}
