import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { AppError, describeCause } from '../errors';
import type { Logger } from '../logger';
import { errorResponse } from './respond';

export type RouteHandler<E> = (
  event: E,
  log: Logger,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * The request/response plumbing every HTTP function shares: a request-scoped logger, one
 * place where errors become responses, and one log line per failure at the right level.
 */
export function httpHandler<E extends APIGatewayProxyEventV2>(logger: Logger, route: RouteHandler<E>) {
  return async (event: E, context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    const log = logger.child({
      requestId: event.requestContext?.requestId,
      awsRequestId: context?.awsRequestId,
      route: event.routeKey,
    });
    try {
      return await route(event, log, context);
    } catch (err) {
      logFailure(log, err);
      return errorResponse(err);
    }
  };
}

function logFailure(log: Logger, err: unknown): void {
  if (!(err instanceof AppError)) {
    // A bug. Its stack is ours; its message is logged because our own code wrote it.
    const e = err instanceof Error ? err : new Error(String(err));
    log.error('unhandled error', { errorCode: 'INTERNAL', errorName: e.name, errorMessage: e.message, stack: e.stack });
    return;
  }
  const fields = {
    errorCode: err.code,
    status: err.status,
    reason: err.message,
    ...(err.details ?? {}),
    ...(err.cause === undefined ? {} : { cause: describeCause(err.cause) }),
  };
  if (err.code === 'WECHAT_ERROR' || err.code === 'INTERNAL') {
    log.error(err.code === 'WECHAT_ERROR' ? 'WeChat rejected our credentials or server: configuration problem' : 'internal error', fields);
  } else if (err.status >= 500) {
    log.warn('dependency failure', fields);
  } else {
    log.info('request rejected', fields);
  }
}
