import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AppError, asAppError, describeCause, transientFailure } from '../errors';
import type { Logger } from '../logger';
import { lambdaFunction, type Compose, type FunctionDeps, type FunctionKind } from '../runtime';
import { requireUser, type AuthorizedEvent, type SessionIdentity } from './auth-context';
import { errorResponse } from './respond';

type Answer = APIGatewayProxyStructuredResultV2;

export type RouteHandler<E, D> = (event: E, log: Logger, deps: D) => Promise<Answer>;

/**
 * An HTTP API route (payload 2.0): the shared wrapper (lib/runtime.ts) with the request/response
 * plumbing every route shares. Errors become responses in one place (lib/http/respond.ts),
 * each failure is logged once at its level, and every request is counted by route and outcome.
 */
/** How a route differs from the default (lib/runtime.ts, FunctionKind). */
export type RouteOptions = Pick<FunctionKind<unknown, unknown, unknown>, 'rerunAfterRotation'>;

export function httpHandler<E extends APIGatewayProxyEventV2, D extends FunctionDeps>(compose: Compose<D>, route: RouteHandler<E, D>, options: RouteOptions = {}) {
  return lambdaFunction<E, Answer, D>(compose, {
    ...options,
    scope: (event) => ({ fields: { requestId: event.requestContext?.requestId, route: event.routeKey } }),
    run: (event, { log, deps }) => route(event, log, deps),
    // A ConfigError is a deployment mistake (500); anything else may pass (503).
    initFailed: (failure) => errorResponse(new AppError(failure)),
    failed: (err, log) => {
      logFailure(log, err);
      return errorResponse(err);
    },
    finished: (event, { metrics }, { error }) => {
      const outcome = error === undefined ? 'OK' : asAppError(error).code;
      // Requests by route and outcome (OK or the error code): the error-rate alarm reads this.
      metrics?.put('Requests', 1, 'Count', { Route: event.routeKey ?? 'unknown', Outcome: outcome });
      // WeChat refusing our configuration, whichever route met it (login, phone, profile):
      // one metric for the WECHAT_ERROR alarm, so a new route needs no new alarm.
      if (outcome === 'WECHAT_ERROR') metrics?.put('WechatErrors', 1, 'Count');
    },
  });
}

/** What a protected route's body gets: the signed-in user, beside the request's logger and the function's dependencies. */
export interface UserRequest<D> {
  user: SessionIdentity;
  event: AuthorizedEvent;
  log: Logger;
  deps: D;
}

/**
 * A route behind the authorizer (`authorizer: sessionAuthorizer` in its file under deploy/routes/): the body
 * gets the signed-in user the authorizer verified, and the log lines carry its userId. A route
 * deployed without the authorizer answers 401 rather than running anonymously.
 *
 *     export const handler = protectedRoute(composeOrders, async ({ user, deps }) =>
 *       json(200, await deps.orders.listFor(user.userId)));
 */
export function protectedRoute<D extends FunctionDeps>(compose: Compose<D>, route: (request: UserRequest<D>) => Promise<Answer>, options: RouteOptions = {}) {
  return httpHandler<AuthorizedEvent, D>(
    compose,
    async (event, log, deps) => {
      const user = requireUser(event);
      return route({ user, event, log: log.child({ userId: user.userId }), deps });
    },
    options,
  );
}

function logFailure(log: Logger, failure: unknown): void {
  // A foreign error an SDK marks as passing (throttling, a timeout, a reset, a 5xx) is logged
  // as the dependency failure it is answered as; any other is a bug.
  const err = failure instanceof AppError || !transientFailure(failure) ? failure : asAppError(failure);
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

/** The IAM caller API Gateway verified for an AWS_IAM route (`requestContext.authorizer.iam`). */
export interface IamCaller {
  userArn: string;
  accountId?: string;
}

/** What an admin route's body gets: the IAM caller, beside the request's logger and the function's dependencies. */
export interface AdminRequest<D> {
  caller: IamCaller;
  event: APIGatewayProxyEventV2;
  log: Logger;
  deps: D;
}

/**
 * A route of the admin API (`authorizer: { type: aws_iam }` in its file under deploy/routes/):
 * API Gateway lets only SigV4-signed requests of an allowed IAM principal through, and hands
 * the caller over as `requestContext.authorizer.iam`. The route refuses a request without it
 * (403 IAM_REQUIRED): a route deployed without AWS_IAM, or run by serverless offline, which
 * does not support it (npm run dev checks the signature itself: local/sigv4-check.mjs). Every
 * log line carries the caller's ARN.
 */
export function adminRoute<D extends FunctionDeps>(compose: Compose<D>, route: (request: AdminRequest<D>) => Promise<Answer>) {
  return httpHandler<APIGatewayProxyEventV2, D>(compose, async (event, log, deps) => {
    const iam = (event.requestContext as { authorizer?: { iam?: { userArn?: unknown; accountId?: unknown } } } | undefined)?.authorizer?.iam;
    if (!iam || typeof iam.userArn !== 'string' || !iam.userArn) throw new AppError('IAM_REQUIRED');
    const caller = { userArn: iam.userArn, ...(typeof iam.accountId === 'string' ? { accountId: iam.accountId } : {}) };
    return route({ caller, event, log: log.child({ caller: caller.userArn }), deps });
  });
}
