import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { onlyKeys, readJsonObject } from '../http/body';

/** `{"reason": "…", "until": "<ISO>"}`: a few hundred bytes. */
const MAX_BODY_BYTES = 2048;
/** A reason is for the operators: a line, not an essay. */
const MAX_REASON_LENGTH = 500;

/** PUT /admin/users/{id}/suspension's body: the reason (required) and the end time (optional). */
export function parseSuspension(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): { reason: string; until?: Date } {
  const body = readJsonObject(event, { maxBytes: MAX_BODY_BYTES });
  onlyKeys(body, ['reason', 'until'], '{"reason": "...", "until": "<ISO time>"}');
  const { reason, until } = body;
  if (typeof reason !== 'string' || !reason.trim()) throw new AppError('INVALID_REQUEST', '"reason" is required: a string kept for the operators, never told to the user.');
  if (reason.length > MAX_REASON_LENGTH) throw new AppError('INVALID_REQUEST', `"reason" is at most ${MAX_REASON_LENGTH} characters.`);
  if (until === undefined) return { reason };
  const end = typeof until === 'string' ? new Date(until) : undefined;
  if (!end || Number.isNaN(end.getTime())) throw new AppError('INVALID_REQUEST', '"until" must be an ISO time, e.g. 2027-01-31T00:00:00Z.');
  return { reason, until: end };
}
