import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from '../config';
import { sendRaw, type Transport } from './http';

interface SdkRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/**
 * The SDK's request handler slot, filled with the same keep-alive node:http transport the
 * WeChat and Upstash calls use: the SDK's own handler arms several timers and streams per
 * request, which shows up as CPU on every login. Its figure (2026-12-05,
 * `npm run bench -- --only dynamo-handler`, Node 20, CPU per UpdateItem, 1,200 each in six
 * alternating rounds): 1.884 ms against 2.268 ms on the SDK's NodeHttpHandler, cheaper in 6 of
 * 6 rounds.
 */
function leanRequestHandler(timeoutMs: number, transport: Pick<Transport, 'sendRaw'>) {
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    async handle(request: SdkRequest, options?: { abortSignal?: AbortSignal }) {
      let search = '';
      if (request.query) {
        // DynamoDB's JSON protocol sends none; kept for completeness.
        const query = new URLSearchParams();
        for (const [key, value] of Object.entries(request.query)) {
          for (const item of Array.isArray(value) ? value : [value]) if (item !== null) query.append(key, item);
        }
        if (query.size) search = `?${query}`;
      }
      const url = `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}${request.path}${search}`;
      const { status, headers, body } = await transport.sendRaw(url, {
        method: request.method,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        timeoutMs,
        // Never re-sent here: whether a copy is safe is the command's business, and the client's
        // resend middleware (below) re-sends after a reset kept-alive socket only what is.
        idempotent: false,
        ...(options?.abortSignal ? { signal: options.abortSignal } : {}),
      });
      return { response: { statusCode: status, headers, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) } };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
}

/**
 * One DynamoDB client per container, created at cold start and reused (keep-alive is the
 * SDK's default). Timeouts are bounded so a sick region fails the login fast with 503
 * instead of holding it until the Lambda times out; throttling gets the SDK's retries.
 * `transport` is the login's, with its rehearsal's interceptor (lib/adapters/http.ts).
 */
export function createDynamoClient(config: Config['dynamodb'], transport: Pick<Transport, 'sendRaw'> = { sendRaw }): DynamoDBClient {
  const client = new DynamoDBClient({
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    // Every setting the SDK would otherwise look up, in the environment and then in
    // ~/.aws/config (a file Lambda does not have), given here: about 1 ms less CPU in a fresh
    // container's client creation and first request (17.1 → 16.3 ms, medians of 8 processes).
    ...(config.region ? { region: config.region } : {}),
    defaultsMode: 'legacy',
    retryMode: 'standard',
    useDualstackEndpoint: false,
    useFipsEndpoint: false,
    accountIdEndpointMode: 'disabled',
    authSchemePreference: [],
    endpointDiscoveryEnabledProvider: async () => undefined,
    userAgentAppId: async () => undefined,
    // Two more the SDK would look up in the environment and ~/.aws/config on the first request
    // (loading node:fs/promises for a file Lambda does not have): the signer's clock-skew
    // correction stays on (the SDK's default), and the endpoint is DYNAMODB_ENDPOINT or the
    // region's, never AWS_ENDPOINT_URL* (lib/config.ts is the one place for settings).
    disableClockSkewCorrection: false,
    ignoreConfiguredEndpointUrls: true,
    // One retry: enough for a throttled or dropped request, and it keeps a login's worst case
    // (every upstream failing slowly, ~17 s) inside the function's 20 s timeout. After a
    // timeout, a reset or a 5xx the first copy may still land, so only a command that says a
    // copy is safe gets that retry (`resendable`, enforced by `onlySafeCopies` below).
    maxAttempts: 2,
    // Build each command's middleware chain once, not on every send: nothing here changes a
    // command's middleware after the client is made.
    cacheMiddleware: true,
    requestHandler: leanRequestHandler(config.timeoutMs, transport) as never,
  });
  onlySafeCopies(client);
  return client;
}

/**
 * Why a DynamoDB write may reach the table twice (the SDK's retry after a timeout, a reset or
 * a 5xx, or a re-send after a reset kept-alive socket), when the first copy may have landed:
 *
 * - `own-id`: its condition names the operation's own id (the login's id, the number being
 *   bound, the claim it saw) and refuses the row that very write leaves, so a second copy
 *   fails its condition and the adapter reads what the first left;
 * - `idempotent`: a second copy leaves the row as the first did (a delete, a put or a set of
 *   equal values, an ADD or DELETE of set members; never a counter).
 *
 * test/unit/dynamodb-resend.test.ts proves each reason from the requests the adapters send.
 */
export type SafeCopy = 'own-id' | 'idempotent';

/** The commands (by their input) marked safe to send twice, and why. */
const safeCopies = new WeakMap<object, SafeCopy>();

/**
 * Marks `command` as safe to send twice, for the reason given. A write not marked is sent
 * once, unless DynamoDB answered that it did not apply it (throttling): a new adapter's write
 * is never repeated unless it says so. Reads need no mark.
 */
export function resendable<C extends { input: object }>(command: C, why: SafeCopy): C {
  safeCopies.set(command.input, why);
  return command;
}

/** Why `command` may be sent twice, if it was marked so (for tests). */
export function safeCopyOf(command: { input: object }): SafeCopy | undefined {
  return safeCopies.get(command.input);
}

/** Commands that change nothing: always safe to send again. */
const READS = new Set(['GetItemCommand', 'BatchGetItemCommand', 'QueryCommand', 'ScanCommand', 'TransactGetItemsCommand', 'DescribeTableCommand']);

/** Errors of a request that may not be sent again (the retry strategy below reads it). */
const sentOnce = new WeakSet<object>();

type RetryToken = unknown;
interface RetryStrategyV2 {
  acquireInitialRetryToken(scope: string): Promise<RetryToken>;
  refreshRetryTokenForRetry(token: RetryToken, info: { error: unknown; errorType: string }): Promise<RetryToken>;
  recordSuccess(token: RetryToken): void;
}

/**
 * The per-request re-send decision, in two places of the client: a middleware just inside the
 * SDK's retry loop, which sees the command, and the retry strategy, which sees only the error.
 * The middleware re-sends a safe request at once after a reset kept-alive socket (the server
 * closed an idle socket, usually before reading it: Node's documented pattern), and marks the
 * failure of a request that is not safe; the strategy then refuses that failure a retry,
 * unless it is throttling (DynamoDB refused the request: nothing was applied).
 */
function onlySafeCopies(client: DynamoDBClient): void {
  const middleware = (next: (args: { input: object }) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: { input: object }) => {
      const safe = READS.has(context.commandName ?? '') || safeCopies.has(args.input);
      try {
        return await next(args);
      } catch (err) {
        if (safe && (err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return next(args);
        if (!safe && typeof err === 'object' && err !== null) sentOnce.add(err);
        throw err;
      }
    };
  client.middlewareStack.addRelativeTo(middleware as never, { relation: 'after', toMiddleware: 'retryMiddleware', name: 'resendOnlySafeCopies' });
  const config = client.config as unknown as { retryStrategy: () => Promise<RetryStrategyV2> };
  const standard = config.retryStrategy;
  let strategy: Promise<RetryStrategyV2> | undefined;
  config.retryStrategy = () =>
    (strategy ??= standard().then((inner) => ({
      acquireInitialRetryToken: (scope) => inner.acquireInitialRetryToken(scope),
      refreshRetryTokenForRetry: (token, info) => {
        if (info.errorType !== 'THROTTLING' && typeof info.error === 'object' && info.error !== null && sentOnce.has(info.error)) return Promise.reject(info.error);
        return inner.refreshRetryTokenForRetry(token, info);
      },
      recordSuccess: (token) => inner.recordSuccess(token),
    })));
}
