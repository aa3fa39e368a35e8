import type { Context } from 'aws-lambda';
import { ConfigError, loadLogConfig, type Env } from './config';
import { AppError, credentialsRejected } from './errors';
import { createLogger, registerSecrets, type Fields, type Logger } from './logger';
import type { Metrics } from './metrics';
import { parameterNames, withParameters } from './secrets';

/**
 * A function's one-time initialisation (secrets, config, clients), started when the module
 * loads and awaited by every invocation; the deployed bundle also awaits it at load, so that it
 * runs in Lambda's init phase (AWAIT_AT_LOAD below). If it fails (SSM unreachable for a moment, say), the failure is that invocation's answer
 * and the next invocation tries again, instead of the container staying broken.
 */
export function initOnce<T>(init: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  const start = () => {
    pending = init();
    pending.catch(() => {
      pending = undefined;
    });
    return pending;
  };
  start();
  return () => pending ?? start();
}

/** What every composition root gives its function: a logger, and metrics when it keeps any. */
export interface FunctionDeps {
  logger: Logger;
  metrics?: Metrics;
  /**
   * Work moved out of the first request, done once at initialisation after composing (the
   * login's, lib/login/prime.ts). A failure is logged and leaves the function working.
   */
  priming?: Priming;
}

export interface Priming {
  /**
   * One invocation rehearsed over recorded answers, so that its code, the SDKs' included, is
   * compiled and their one-time set-up done before the first request, while the connections
   * it addresses are opened. `run` runs it with the clients' requests answered from recordings
   * (the interceptor the composition root built them with: lib/adapters/http.ts Rehearsal).
   * `deps` builds a twin of the function's dependencies, over the same clients, whose logger
   * and metrics write nowhere: nothing is sent, written, logged or counted.
   */
  rehearsal: { event: unknown; run<T>(rehearse: () => Promise<T>): Promise<T>; deps: () => FunctionDeps; times?: number };
}

/**
 * A composition root (`lib/<feature>/compose.ts`): builds a function's dependencies from its
 * settings, once per container. Every one takes the same input, the environment with its
 * parameters resolved.
 */
export type Compose<D extends FunctionDeps> = (env: Env) => D | Promise<D>;

/** What a failed initialisation amounts to: a deployment mistake, or a dependency that may pass. */
export type InitFailure = 'INTERNAL' | 'SERVICE_UNAVAILABLE';

/** One invocation, as a function's body sees it. */
export interface Invocation<D> {
  /** The request-scoped logger: every line carries the request's ids and the cold-start flag. */
  log: Logger;
  deps: D;
}

/**
 * How one kind of function (an HTTP route, the authorizer) runs inside the shared wrapper.
 * The hooks that answer a failure either return the function's answer or throw: an HTTP
 * route answers with an error body, the authorizer throws so that API Gateway answers 500.
 */
export interface FunctionKind<E, R, D> {
  /** Fields for every log line of the invocation (request id, route), and values to scrub. */
  scope(event: E): { fields: Fields; secrets?: readonly string[] };
  run(event: E, invocation: Invocation<D>): Promise<R>;
  /** The function could not initialise (already logged). */
  initFailed(failure: InitFailure): R;
  /** The body threw: log it once, at its level, and answer (or throw). */
  failed(err: unknown, log: Logger): R;
  /** After every invocation that initialised, before the metrics are flushed. */
  finished?(event: E, deps: D, outcome: { error?: unknown }): void;
  /**
   * Whether a request refused for rotated credentials runs again, in the same invocation, once
   * the new ones are read (the default). False for a route that spends something before it
   * reaches the store that refused (the account deletion spends its wx.login code first): it
   * answers 503 instead, and the client's retry, with what it needs afresh, finds the new ones.
   */
  rerunAfterRotation?: boolean;
}

/** The least time between two re-reads of a container's parameters (after a rejected credential). */
export const PARAMETER_REFRESH_INTERVAL_MS = 60_000;

/**
 * The one wrapper every function is built with (`httpHandler`, `protectedRoute`,
 * `authorizerHandler` are its kinds). At module load it starts the function's initialisation:
 * parameters resolved (lib/secrets.ts), the values of its SecureString settings registered with
 * the logger (so every line scrubs them, and no composition root lists them), then the
 * composition root. Per invocation it awaits
 * that, gives the body a logger scoped to the request (request ids, the X-Ray trace id, the
 * cold-start flag, as Powertools Logger's lines carry them), turns failures into the kind's
 * answer, and flushes the metrics.
 *
 * Rotated secrets: when a dependency refuses the credentials this container holds (WeChat's
 * 40125, Upstash's 401: a CredentialsRejected cause), the parameters are read again from SSM,
 * at most once a minute per container. If a value changed, the function is composed afresh
 * with it and the request runs once more. That is as safe as a client's retry with the same
 * body, which every route but one takes: the account deletion spends its wx.login code before
 * it reaches Redis, so it answers 503 instead (`rerunAfterRotation: false`), and the client
 * kit retries it with a fresh code. If nothing changed, the refusal is the answer (and the
 * alarm's business).
 */
export function lambdaFunction<E, R, D extends FunctionDeps>(
  compose: Compose<D>,
  kind: FunctionKind<E, R, D>,
  env: Env = process.env,
): (event: E, context?: Pick<Context, 'awsRequestId'>) => Promise<R> {
  let resolved: Env | undefined;
  let ready = initOnce(async () => {
    const parameters = await withParameters(env);
    // Before composing: every logger the composition root makes scrubs them already.
    registerSecrets(parameters.secrets);
    resolved = parameters.env;
    const deps = await compose(resolved);
    await primed(deps, kind);
    return deps;
  });
  awaitedAtLoad(ready());
  let lastRefresh = -Infinity;
  let coldStart = true;

  /** Re-reads the parameters after a refusal; the freshly composed dependencies when a value changed. */
  async function refreshed(log: Logger): Promise<D | undefined> {
    const names = parameterNames(env);
    if (names.length === 0 || Date.now() - lastRefresh < PARAMETER_REFRESH_INTERVAL_MS) return undefined;
    lastRefresh = Date.now();
    try {
      const parameters = await withParameters(env);
      registerSecrets(parameters.secrets);
      const fresh = parameters.env;
      const changed = names.filter((name) => fresh[name] !== resolved?.[name]);
      if (changed.length === 0) {
        log.warn('credentials refused, parameters re-read: unchanged', { parameters: names });
        return undefined;
      }
      const deps = await compose(fresh);
      resolved = fresh;
      ready = async () => deps;
      log.info('credentials refused, parameters re-read: changed, retrying with them', { changed });
      return deps;
    } catch (err) {
      log.warn('credentials refused, parameters could not be re-read', failureFields(err));
      return undefined;
    }
  }

  /**
   * The warm-keeper's ping (serverless.yml, param keepWarm): initialise if not yet done, count
   * one WarmPing, nothing else. A warm container sends nothing; a cold one initialises as for
   * a first request (its parameters, its connections opened with a GET /), nothing more. No
   * log line above debug, and it is not a request of the API (no Requests metric). The
   * container is warm afterwards, so the next real invocation is not its cold start.
   */
  async function warmPing(): Promise<{ warm: boolean }> {
    coldStart = false;
    try {
      const { logger, metrics } = await ready();
      logger.debug('warm ping');
      metrics?.put('WarmPing', 1, 'Count');
      metrics?.flush();
      return { warm: true };
    } catch (err) {
      // The next real request logs the failure at error, and answers it.
      bootLogger(env).debug('warm ping: initialisation failed', { errorName: err instanceof Error ? err.name : typeof err });
      return { warm: false };
    }
  }

  return async (event, context) => {
    if (isWarmPing(event)) return (await warmPing()) as R;
    const { fields, secrets } = kind.scope(event);
    const invocationFields = { ...fields, awsRequestId: context?.awsRequestId, xrayTraceId: traceId(env), coldStart };
    coldStart = false;
    let deps: D;
    try {
      deps = await ready();
    } catch (err) {
      return kind.initFailed(logInitFailure(err, bootLogger(env).child(invocationFields)));
    }
    let log = deps.logger.child(invocationFields, secrets);
    let error: unknown;
    try {
      try {
        return await kind.run(event, { log, deps });
      } catch (err) {
        const fresh = credentialsRejected(err) ? await refreshed(log) : undefined;
        if (!fresh) throw err;
        deps.metrics?.flush();
        deps = fresh;
        log = deps.logger.child(invocationFields, secrets);
        if (kind.rerunAfterRotation === false) {
          throw new AppError('SERVICE_UNAVAILABLE', 'credentials were rotated during the request: the client retries with the new ones', { cause: err });
        }
        return await kind.run(event, { log, deps });
      }
    } catch (err) {
      error = err;
      return kind.failed(err, log);
    } finally {
      kind.finished?.(event, deps, error === undefined ? {} : { error });
      deps.metrics?.flush();
    }
  };
}

/**
 * The function's priming, if it has any: an invocation rehearsed, its connections opened
 * meanwhile. A failure is logged, never thrown.
 */
async function primed<E, R, D extends FunctionDeps>(deps: D, kind: FunctionKind<E, R, D>): Promise<void> {
  if (!deps.priming) return;
  const { event, run, deps: quiet, times = 1 } = deps.priming.rehearsal;
  // Node creates process.stdout (where every log line and metric goes) on first use: a pipe's
  // stream set-up that would otherwise fall on the first request's first log line.
  void process.stdout.writable;
  // The twin has this function's shape over the same clients (the composition root builds it).
  const twin = quiet() as D;
  try {
    await run(async () => {
      for (let i = 0; i < times; i++) {
        try {
          await kind.run(event as E, { log: twin.logger, deps: twin });
        } finally {
          kind.finished?.(event as E, twin, {});
          twin.metrics?.flush();
        }
      }
    });
  } catch (err) {
    deps.logger.warn('priming failed: the first request does that work instead', failureFields(err));
  }
}

/**
 * Where a bundle's last line finds the initialisations to await (deploy/esbuild-plugins.cjs
 * appends `await` of them to each deployed bundle). Lambda's init phase lasts until the
 * handler's module has finished loading, top-level await included: only work awaited there
 * happens in the init phase, which for an on-demand function runs at a full vCPU before the
 * first request. The sources have no top-level await themselves: `serverless invoke local`
 * loads a handler with require(), which refuses one.
 */
export const AWAIT_AT_LOAD = Symbol.for('wechat-login.await-at-load');

function awaitedAtLoad(pending: Promise<unknown>): void {
  const registry = globalThis as { [AWAIT_AT_LOAD]?: Promise<unknown>[] };
  // Settled, never rejected: a failed initialisation is the first request's answer, and the
  // next invocation tries again (initOnce).
  (registry[AWAIT_AT_LOAD] ??= []).push(pending.then(() => undefined, () => undefined));
}

/** The warm-keeper's event, `{"warmPing": true}` from EventBridge: never an API Gateway event. */
export function isWarmPing(event: unknown): boolean {
  return typeof event === 'object' && event !== null && (event as { warmPing?: unknown }).warmPing === true && !('requestContext' in event);
}

/**
 * The X-Ray trace id of the current invocation: the Root of the header Lambda puts in
 * _X_AMZN_TRACE_ID before each invocation (unset locally).
 */
function traceId(env: Env): string | undefined {
  return /(?:^|;)Root=([^;]+)/.exec(env._X_AMZN_TRACE_ID ?? '')?.[1];
}

/**
 * The logger of a function that could not build its own: the level and service name when
 * they are valid, else info. The failure may come before any secret was registered, so it is
 * only given names, never values.
 */
function bootLogger(env: Env): Logger {
  try {
    const { logLevel, serviceName } = loadLogConfig(env);
    return createLogger({ level: logLevel, service: serviceName });
  } catch {
    return createLogger({ level: 'info', service: env.SERVICE_NAME?.trim() || 'wechat-login' });
  }
}

/**
 * Logs a failed initialisation and says what it amounts to. A ConfigError is a deployment
 * mistake; anything else, such as SSM being unreachable, may pass, and the next invocation
 * tries again. Messages are ours: parameter and variable names, never values.
 */
export function logInitFailure(err: unknown, log: Logger): InitFailure {
  const failure: InitFailure = err instanceof ConfigError ? 'INTERNAL' : 'SERVICE_UNAVAILABLE';
  log.error('function initialisation failed', { errorCode: failure, ...failureFields(err) });
  return failure;
}

/**
 * What a log line says of a failure in the function's own set-up (SSM, config, priming): its
 * name and message, which our code writes (parameter and variable names, never values).
 */
function failureFields(err: unknown): { errorName: string; reason: string | undefined } {
  return { errorName: err instanceof Error ? err.name : typeof err, reason: err instanceof Error ? err.message : undefined };
}
