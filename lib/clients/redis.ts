import { Redis } from '@upstash/redis';
import type { Config } from '../config';

/**
 * One Upstash client per container. Values are stored and read as plain strings (no
 * automatic JSON), every request is bounded by a timeout, and a failed request is retried
 * once: a store outage must answer 503 in seconds, not hang the login.
 */
export function createRedisClient(config: Config['redis']): Redis {
  return new Redis({
    url: config.url,
    token: config.token,
    automaticDeserialization: false,
    enableTelemetry: false,
    // Each request here is one deliberate command, pipeline or transaction: batching commands
    // behind a Proxy would only add work.
    enableAutoPipelining: false,
    // Every value we store is ASCII or UTF-8 text, so plain JSON answers are safe and save the
    // base64 round of encoding and decoding.
    responseEncoding: false,
    // A function, so the client throws on timeout (a plain signal makes it return "Aborted").
    signal: () => AbortSignal.timeout(config.timeoutMs),
    retry: { retries: 1, backoff: () => 50 },
  });
}
