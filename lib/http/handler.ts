import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ConfigError } from '../config';
import { AppError, describeCause } from '../errors';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { errorResponse } from './respond';

export type RouteHandler<E, D> = (
  event: E,
  log: Logger,
  deps: D,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * The request/response plumbing every HTTP function shares: the function's one-time
 * initialisation awaited, a request-scoped logger, one place where errors become responses,
 * and one log line per failure at the right level.
 */
export function httpHandler<E extends APIGatewayProxyEventV2, D extends { logger: Logger; metrics?: Metrics }>(
  ready: () => Promise<D>,
  route: RouteHandler<E, D>,
) {
  return async (event: E, context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    let deps: D;
    try {
      deps = await ready();
    } catch (err) {
      return initFailure(err);
    }
    const log = deps.logger.child({
      requestId: event.requestContext?.requestId,
      awsRequestId: context?.awsRequestId,
      route: event.routeKey,
    });
    let outcome = 'OK';
    try {
      return await route(event, log, deps, context);
    } catch (err) {
      logFailure(log, err);
      outcome = err instanceof AppError ? err.code : 'INTERNAL';
      return errorResponse(err);
    } finally {
      // Requests by route and outcome (OK or the error code): the error-rate alarm reads this.
      deps.metrics?.put('Requests', 1, 'Count', { Route: event.routeKey ?? 'unknown', Outcome: outcome });
      // WeChat refusing our configuration, whichever route met it (login, phone, profile):
      // one metric for the WECHAT_ERROR alarm, so a new route needs no new alarm.
      if (outcome === 'WECHAT_ERROR') deps.metrics?.put('WechatErrors', 1, 'Count');
      deps.metrics?.flush();
    }
  };
}

/**
 * The function could not initialise, so there is no logger yet: one plain JSON line. A
 * ConfigError is a deployment mistake (500); anything else, such as SSM being unreachable,
 * may pass (503, and the next invocation tries again). Messages are ours: parameter and
 * variable names, never values.
 */
export function initFailure(err: unknown): APIGatewayProxyStructuredResultV2 {
  return errorResponse(new AppError(logInitFailure(err)));
}

/** Logs a failed initialisation (see initFailure) and says which error code it amounts to. */
export function logInitFailure(err: unknown): 'INTERNAL' | 'SERVICE_UNAVAILABLE' {
  const code = err instanceof ConfigError ? 'INTERNAL' : 'SERVICE_UNAVAILABLE';
  process.stdout.write(
    `${JSON.stringify({
      level: 'error',
      message: 'function initialisation failed',
      timestamp: new Date().toISOString(),
      errorCode: code,
      errorName: err instanceof Error ? err.name : typeof err,
      reason: err instanceof Error ? err.message : undefined,
    })}\n`,
  );
  return code;
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
