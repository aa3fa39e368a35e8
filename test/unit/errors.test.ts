import {
  ConditionalCheckFailedException,
  DynamoDBServiceException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { describe, expect, it } from 'vitest';
import { HttpTimeoutError } from '../../lib/adapters/http';
import { AppError, asAppError, clientFault, credentialsRejected, CredentialsRejected, ERRORS, transientFailure, type ErrorCode } from '../../lib/errors';
import { errorResponse } from '../../lib/http/respond';

describe('Function: errorResponse', () => {
  const table: [ErrorCode, number][] = [
    ['INVALID_REQUEST', 400],
    ['UNAUTHORIZED', 401],
    ['INVALID_CODE', 401],
    ['UNKNOWN_APP', 400],
    ['INVALID_PHONE_CODE', 400],
    ['PHONE_IN_USE', 409],
    ['CONTENT_REJECTED', 400],
    ['AVATAR_TOO_LARGE', 413],
    ['UNSUPPORTED_IMAGE', 415],
    ['USER_BLOCKED', 403],
    ['SNAPSHOT_USER', 403],
    ['ACCOUNT_SUSPENDED', 403],
    ['IAM_REQUIRED', 403],
    ['SESSION_NOT_FOUND', 404],
    ['OPENDATA_MALFORMED', 400],
    ['OPENDATA_INVALID', 400],
    ['OPENDATA_UNSUPPORTED', 400],
    ['SESSION_KEY_EXPIRED', 401],
    ['MINIPROGRAM_SESSION_REQUIRED', 403],
    ['REAUTH_FAILED', 403],
    ['NOT_FOUND', 404],
    ['LOGIN_IN_PROGRESS', 409],
    ['RATE_LIMITED', 429],
    ['INVALID_SIGNATURE', 403],
    ['INTERNAL', 500],
    ['WECHAT_ERROR', 502],
    ['WECHAT_UNAVAILABLE', 503],
    ['SERVICE_UNAVAILABLE', 503],
  ];

  it('covers every error code', () => {
    expect(table.map(([code]) => code).sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it.each(table)('answers %s with HTTP %i and the standard JSON body', (code, status) => {
    const response = errorResponse(new AppError(code));
    expect(response.statusCode).toBe(status);
    expect(response.headers?.['content-type']).toBe('application/json');
    expect(JSON.parse(response.body!)).toEqual({ error: { code, message: ERRORS[code].message } });
  });

  it('shows the specific message of a 4xx', () => {
    const response = errorResponse(new AppError('INVALID_REQUEST', '"code" is required.'));
    expect(JSON.parse(response.body!).error.message).toBe('"code" is required.');
  });

  it('hides the specific message of a 5xx', () => {
    const response = errorResponse(new AppError('WECHAT_ERROR', 'jscode2session answered errcode 40125', { details: { errmsg: 'x' } }));
    expect(response.body).not.toContain('40125');
    expect(JSON.parse(response.body!).error).toEqual({ code: 'WECHAT_ERROR', message: ERRORS.WECHAT_ERROR.message });
  });

  it('turns anything that is not an AppError into a bare INTERNAL', () => {
    const response = errorResponse(new TypeError('cannot read x of undefined at /var/task/secret.js'));
    expect(response.statusCode).toBe(500);
    expect(response.body).toBe(JSON.stringify({ error: { code: 'INTERNAL', message: ERRORS.INTERNAL.message } }));
  });

  it('adds Retry-After when the error carries one', () => {
    expect(errorResponse(new AppError('RATE_LIMITED', undefined, { retryAfterSeconds: 60 })).headers?.['retry-after']).toBe('60');
    expect(errorResponse(new AppError('INVALID_CODE')).headers).not.toHaveProperty('retry-after');
  });

  it.each(Object.entries(ERRORS).filter(([code, entry]) => (entry.status === 409 || entry.status === 503) && code !== 'PHONE_IN_USE').map(([code]) => code as ErrorCode))(
    'says when to come back on every %s (a 409 or 503 that waiting can resolve), even when the thrower did not',
    (code) => {
      expect(Number(errorResponse(new AppError(code)).headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    },
  );

  it('gives PHONE_IN_USE no Retry-After: waiting does not free a number bound to someone else', () => {
    expect(errorResponse(new AppError('PHONE_IN_USE')).headers).not.toHaveProperty('retry-after');
  });
});

describe('Function: credentialsRejected', () => {
  it('finds a CredentialsRejected anywhere in the cause chain, the one the wrapper re-reads parameters for', () => {
    const rejected = new CredentialsRejected('upstash');
    expect(credentialsRejected(rejected)).toBe(rejected);
    expect(credentialsRejected(new AppError('SERVICE_UNAVAILABLE', 'x', { cause: rejected }))).toBe(rejected);
    expect(credentialsRejected(new AppError('WECHAT_ERROR', 'x', { cause: new Error('wrapped', { cause: rejected }) }))).toBe(rejected);
  });

  it('finds none in other failures', () => {
    expect(credentialsRejected(new AppError('WECHAT_ERROR', 'errcode 40164'))).toBeUndefined();
    expect(credentialsRejected(new AppError('SERVICE_UNAVAILABLE', 'x', { cause: new Error('ECONNRESET') }))).toBeUndefined();
    expect(credentialsRejected('a string')).toBeUndefined();
  });
});

describe('Function: transientFailure (the SDK\'s own classification, without the SDK)', () => {
  const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });
  const service = (name: string, fault: 'client' | 'server', status: number) =>
    new DynamoDBServiceException({ name, $fault: fault, message: name, ...meta(status) });
  const network = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
  // What the DynamoDB client throws, as it throws it: its modelled exceptions, an exception it
  // only knows by name, our transport's failures.
  const samples: [string, Error, boolean][] = [
    ['ProvisionedThroughputExceededException', new ProvisionedThroughputExceededException({ message: 'slow down', ...meta(400) }), true],
    ['RequestLimitExceeded', new RequestLimitExceeded({ message: 'account limit', ...meta(400) }), true],
    ['ThrottlingException', service('ThrottlingException', 'client', 400), true],
    ['InternalServerError', new InternalServerError({ message: 'oops', ...meta(500) }), true],
    ['ServiceUnavailable', service('ServiceUnavailable', 'server', 503), true],
    ['a timeout', new HttpTimeoutError('no answer within 200 ms'), true],
    ['ECONNRESET', network('ECONNRESET'), true],
    ['ECONNREFUSED', network('ECONNREFUSED'), true],
    ['ENOTFOUND', network('ENOTFOUND'), true],
    ['ValidationException', service('ValidationException', 'client', 400), false],
    ['ResourceNotFoundException', new ResourceNotFoundException({ message: 'no table', ...meta(400) }), false],
    ['AccessDeniedException', service('AccessDeniedException', 'client', 400), false],
    ['ConditionalCheckFailedException', new ConditionalCheckFailedException({ message: 'refused', ...meta(400) }), false],
    ['a bug', new TypeError('x is undefined'), false],
  ];

  it.each(samples)('%s: as the SDK classifies it', (_name, err, transient) => {
    expect(transientFailure(err)).toBe(transient);
    expect(isThrottlingError(err as never) || isTransientError(err as never) || isServerError(err as never)).toBe(transient);
  });

  it('counts an abort too (our deadline or the caller\'s), which the SDK does not retry', () => {
    expect(transientFailure(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe(true);
  });

  it('reads the cause of a wrapped failure', () => {
    expect(transientFailure(new Error('wrapped', { cause: network('ECONNRESET') }))).toBe(true);
    expect(clientFault(service('ValidationException', 'client', 400))).toBe(true);
    expect(clientFault(new ProvisionedThroughputExceededException({ message: 'slow down', ...meta(400) }))).toBe(false);
  });
});

describe('Function: asAppError', () => {
  it('answers an SDK\'s passing failure with 503 SERVICE_UNAVAILABLE and Retry-After, keeping it as the cause', () => {
    const cause = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } });
    expect(asAppError(cause)).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, retryAfterSeconds: 1, cause });
  });

  it('answers a client fault or a bug with 500 INTERNAL, and an AppError as itself', () => {
    expect(asAppError(new DynamoDBServiceException({ name: 'ValidationException', $fault: 'client', message: 'bad', $metadata: { httpStatusCode: 400 } }))).toMatchObject({ code: 'INTERNAL', status: 500 });
    const own = new AppError('NOT_FOUND');
    expect(asAppError(own)).toBe(own);
  });
});
