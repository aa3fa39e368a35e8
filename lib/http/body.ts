import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';

type BodyEvent = Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>;

const invalid = (message: string) => new AppError('INVALID_REQUEST', message);

/**
 * Reads a small JSON object body, rejecting anything else with INVALID_REQUEST.
 * Size is checked on the raw body first, so an oversized one is never decoded or parsed.
 * `optional`: an absent or empty body reads as `{}`.
 */
export function readJsonObject(event: BodyEvent, options: { maxBytes: number; optional?: boolean }): Record<string, unknown> {
  const { maxBytes } = options;
  const contentType = headerValue(event.headers, 'content-type');
  const raw = event.body ?? '';
  if (raw === '' && options.optional) return {};
  if (contentType !== undefined && !isJsonContentType(contentType)) {
    throw invalid('Content-Type must be application/json.');
  }

  const tooLarge = () => invalid(`The body must be at most ${maxBytes} bytes.`);
  const encodedLimit = event.isBase64Encoded ? Math.ceil(maxBytes / 3) * 4 : maxBytes;
  if (raw.length > encodedLimit) throw tooLarge();

  let text = raw;
  if (event.isBase64Encoded) {
    const bytes = Buffer.from(raw, 'base64');
    if (bytes.length > maxBytes) throw tooLarge();
    text = bytes.toString('utf8');
  } else if (Buffer.byteLength(raw, 'utf8') > maxBytes) {
    throw tooLarge();
  }
  if (text.trim() === '') {
    if (options.optional) return {};
    throw invalid('The body must be a JSON object.');
  }

  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid('The body is not valid JSON.');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('The body must be a JSON object.');
  }
  return body as Record<string, unknown>;
}

/**
 * Refuses a body holding any key but `allowed` with INVALID_REQUEST naming the first unknown
 * key (cut to 40 characters) and the body's expected `shape`. Our own routes accept nothing
 * they do not read; WeChat's message push, which gains fields over time, does not use this.
 */
export function onlyKeys(body: Record<string, unknown>, allowed: readonly string[], shape: string): void {
  const unknown = Object.keys(body).find((key) => !allowed.includes(key));
  if (unknown !== undefined) throw invalid(`Unknown field "${unknown.slice(0, 40)}": the body is ${shape}.`);
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
