import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';

/** A wx.login() code as we accept it: 1–128 URL-safe characters, nothing that could bend a query string. */
export const CODE_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;
/** `{"code": "<128 chars>"}` is ~140 bytes; 1 KiB leaves room for whitespace and extra fields. */
export const MAX_BODY_BYTES = 1024;

export interface LoginRequest {
  code: string;
}

const invalid = (message: string) => new AppError('INVALID_REQUEST', message);

/**
 * Validates the login request at the edge, before anything is called.
 * Size is checked on the raw body first, so an oversized one is never decoded or parsed.
 */
export function parseLoginRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): LoginRequest {
  const contentType = headerValue(event.headers, 'content-type');
  if (contentType !== undefined && !isJsonContentType(contentType)) {
    throw invalid('Content-Type must be application/json.');
  }

  const raw = event.body ?? '';
  const encodedLimit = event.isBase64Encoded ? Math.ceil(MAX_BODY_BYTES / 3) * 4 : MAX_BODY_BYTES;
  if (raw.length > encodedLimit) throw invalid(`The body must be at most ${MAX_BODY_BYTES} bytes.`);

  let text = raw;
  if (event.isBase64Encoded) {
    const bytes = Buffer.from(raw, 'base64');
    if (bytes.length > MAX_BODY_BYTES) throw invalid(`The body must be at most ${MAX_BODY_BYTES} bytes.`);
    text = bytes.toString('utf8');
  } else if (Buffer.byteLength(raw, 'utf8') > MAX_BODY_BYTES) {
    throw invalid(`The body must be at most ${MAX_BODY_BYTES} bytes.`);
  }
  if (text.trim() === '') throw invalid('The body must be a JSON object with a "code" field.');

  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid('The body is not valid JSON.');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('The body must be a JSON object with a "code" field.');
  }

  const { code } = body as Record<string, unknown>;
  if (code === undefined) throw invalid('"code" is required.');
  if (typeof code !== 'string') throw invalid('"code" must be a string.');
  if (!CODE_PATTERN.test(code)) {
    throw invalid('"code" must be 1–128 characters from A–Z, a–z, 0–9 and . _ ~ -');
  }
  return { code };
}

function isJsonContentType(value: string): boolean {
  const media = value.split(';')[0]!.trim().toLowerCase();
  return media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media);
}

/** API Gateway lower-cases header names for HTTP APIs; be tolerant of other callers. */
export function headerValue(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}
