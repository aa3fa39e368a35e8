import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from '../config';
import { sendRaw } from './http';

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
function leanRequestHandler(timeoutMs: number) {
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
      const { status, headers, body } = await sendRaw(url, {
        method: request.method,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        timeoutMs,
        // Every DynamoDB request this service sends is a read or a write conditioned on the
        // login's own id (lib/adapters/dynamodb-users.ts), so a copy of it changes nothing.
        idempotent: true,
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
 */
export function createDynamoClient(config: Config['dynamodb']): DynamoDBClient {
  return new DynamoDBClient({
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
    // (every upstream failing slowly, ~17 s) inside the function's 20 s timeout. The SDK
    // retries a timeout or a reset too, after which the first copy may still land: that is
    // safe only because every write here is conditioned on the login's id (a second copy of
    // the login write fails its condition, and the repository then reads what the first left).
    maxAttempts: 2,
    // Build each command's middleware chain once, not on every send: nothing here changes a
    // command's middleware after the client is made.
    cacheMiddleware: true,
    requestHandler: leanRequestHandler(config.timeoutMs) as never,
  });
}
