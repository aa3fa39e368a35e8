import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { asAppError } from '../errors';

const BASE_HEADERS = {
  'content-type': 'application/json',
  // Answers carry credentials or are about them: nothing may be cached on the way.
  'cache-control': 'no-store',
};

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** A plain-text answer: what WeChat's message push expects (`success`, the URL check's echostr). */
export function text(statusCode: number, body: string): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    // nosniff: the URL check echoes a string of the caller's choosing; it must never be read as HTML.
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' },
    body,
  };
}

export function noContent(): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 204, headers: { 'cache-control': 'no-store' } };
}

/**
 * The one mapping from an error to a response: `{"error": {"code", "message"}}`. A foreign
 * error is a dependency's passing failure (503 with Retry-After) or a bug (500): lib/errors.ts asAppError.
 */
export function errorResponse(err: unknown): APIGatewayProxyStructuredResultV2 {
  const error = asAppError(err);
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  return json(error.status, { error: { code: error.code, message: error.publicMessage, ...(error.answer ?? {}) } }, headers);
}

