import { Redis } from '@upstash/redis';
import type { Config } from '../config';
import { CredentialsRejected } from '../errors';
import { send, type Transport } from './http';

type Requester = ConstructorParameters<typeof Redis>[0] & { request: unknown };
type UpstashRequest = Parameters<Extract<ConstructorParameters<typeof Redis>[0], { request: unknown }>['request']>[0];

/** An error answer from Upstash. Its message is Upstash's (e.g. "ERR …"), never our command. */
export class UpstashResponseError extends Error {
  override readonly name = 'UpstashResponseError';
}

/**
 * Upstash's REST protocol (POST `/`, `/pipeline`, `/multi-exec`, Bearer token) over the
 * keep-alive node:http transport, plugged into @upstash/redis through its `Requester`
 * extension point. Answers are plain JSON: every value we store is ASCII or UTF-8 text, so
 * the base64 response encoding buys nothing. No retry of our own on a timeout or an error
 * answer; the transport re-sends a request whose kept-alive socket was found reset. That is
 * safe because every command this service sends is idempotent: the login scripts are keyed
 * by the request's own login id (lib/adapters/redis-sessions.ts), the authorizer's renewal sets the
 * same expiry again, and revocation deletes what is already deleted.
 */
export function createUpstashRequester(config: Config['redis'], transport: Pick<Transport, 'send'> = { send }): Requester {
  const base = config.url.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${config.token}`, 'content-type': 'application/json' };
  return {
    async request<TResult>(req: UpstashRequest) {
      const path = req.path?.length ? `/${req.path.join('/')}` : '';
      const { status, body } = await transport.send(base + path, {
        method: 'POST',
        headers,
        body: JSON.stringify(req.body),
        timeoutMs: config.timeoutMs,
        idempotent: true,
      });
      // A rotated token that SSM may already hold: the wrapper (lib/runtime.ts) re-reads it.
      if (status === 401) throw new CredentialsRejected('upstash');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new UpstashResponseError(`unparseable answer (HTTP ${status})`);
      }
      if (status < 200 || status >= 300) {
        const message = (parsed as { error?: unknown } | null)?.error;
        throw new UpstashResponseError(typeof message === 'string' ? message : `HTTP ${status}`);
      }
      return parsed as { result?: TResult; error?: string };
    },
  };
}

/** @upstash/redis over our requester, with replies handed over as sent (no JSON guessing). */
class PlainRedis extends Redis {
  constructor(requester: Requester) {
    super(requester);
    // A Requester-built client takes no options; `opts` is the protected slot they live in.
    this.opts = { automaticDeserialization: false };
  }
}

/** One Upstash client per container, every request bounded by REDIS_TIMEOUT_MS; `transport` as for createDynamoClient. */
export function createRedisClient(config: Config['redis'], transport?: Pick<Transport, 'send'>): Redis {
  return new PlainRedis(createUpstashRequester(config, transport));
}
