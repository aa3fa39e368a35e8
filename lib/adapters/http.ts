import type { LookupFunction } from 'node:net';
import http from 'node:http';
import https from 'node:https';

/**
 * The outbound HTTP the functions use for WeChat, Upstash, SSM and DynamoDB: node:http(s)
 * over one keep-alive agent per protocol, created once per container.
 *
 * Why not fetch: on the benchmark machine a fetch round trip costs several times the CPU of a
 * node:http one (undici plus web streams), and a login makes four of them (`npm run bench`
 * prints both figures). Lambda bills that CPU as duration.
 */
export interface SendOptions {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Abort (TimeoutError) if no complete answer arrives in time. */
  timeoutMs?: number;
  /** Abort, the request unsent, if no connection is up (TLS included) within this (withFallback's primary). */
  connectTimeoutMs?: number;
  /**
   * The request may be sent twice with the same effect. Only then is it sent again after a
   * kept-alive socket turned out dead (ECONNRESET on a reused socket): that reset usually
   * means the server closed the idle socket before reading the request, but it can also come
   * after the server ran it, so a request that is not idempotent is never re-sent.
   */
  idempotent: boolean;
  signal?: AbortSignal;
}

export interface SendResult {
  status: number;
  body: string;
}

export interface RawResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

export class HttpTimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** A request as a recording sees it: its body as text. */
export interface RecordedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * One adapter's recorded answer to a request it makes, kept next to the code that makes that
 * request (`recordedExchange` in wechat-login.ts, say): the answer, or undefined when the
 * request is not the one it records.
 */
export type Recording = (request: RecordedRequest) => RawResult | undefined;

/** A JSON answer for a recording, as the real service frames it. */
export function recordedJson(status: number, value: unknown, headers: Record<string, string> = {}): RawResult {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(JSON.stringify(value)) };
}

/** Asked before a request is sent: an answer in its place, or undefined to send it. */
export type Interceptor = (url: string, request: { method: string; headers?: Record<string, string>; body?: string | Uint8Array }) => RawResult | undefined;

export interface Transport {
  send(url: string, options: SendOptions): Promise<SendResult>;
  /** As `send`, with the answer's headers and its body as bytes. */
  sendRaw(url: string, options: Omit<SendOptions, 'method' | 'body'> & { method: string; body?: string | Uint8Array }): Promise<RawResult>;
}

/**
 * The transport, with an interceptor asked before each request when the composition root
 * gives one (the login's Rehearsal). Clients made over it are the same objects for a real
 * request and for a rehearsal.
 */
export function createTransport(interceptor?: Interceptor, options: { lookup?: LookupFunction } = {}): Transport {
  const { lookup } = options;
  const sendRaw: Transport['sendRaw'] = async (url, options) => {
    const intercepted = interceptor?.(url, options);
    if (intercepted) return intercepted;
    try {
      return await attempt(url, options, lookup);
    } catch (err) {
      // A kept-alive socket the server closed while idle (Node's documented pattern). Usually
      // the request was never read, but not always: only an idempotent request goes again.
      if (options.idempotent && (err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        return attempt(url, options, lookup);
      }
      throw err;
    }
  };
  return {
    sendRaw,
    async send(url, options) {
      const { status, body } = await sendRaw(url, options);
      return { status, body: body.toString('utf8') };
    },
  };
}

/** How long withFallback's primary may take to connect (TLS included) before the fallback is tried: at most half the request's time limit. */
export const PRIMARY_CONNECT_MS = 1000;

/** Whether a failed request never reached the server (no connection was made): safe to send elsewhere. */
export function notSent(err: unknown): boolean {
  return (err as { notSent?: boolean } | undefined)?.notSent === true;
}

/**
 * A transport that sends what is addressed to `primary` (a base URL) to `fallback` instead when
 * `primary` cannot be reached before the request is sent: its name does not resolve, the
 * connection is refused or times out, the TLS handshake fails. A request that may have reached
 * the server (the connection was up) is never sent again, to either: WeChat's exchanges use up
 * their code. The fallback gets what is left of the request's own time limit.
 */
export function withFallback(transport: Pick<Transport, 'send'>, primary: string, fallback: string | undefined, now: () => number = Date.now): Pick<Transport, 'send'> {
  const from = primary.replace(/\/+$/, '');
  const to = fallback?.replace(/\/+$/, '');
  if (!to || to === from) return transport;
  return {
    async send(url, options) {
      if (!url.startsWith(`${from}/`)) return transport.send(url, options);
      const start = now();
      // The primary gets a connect budget of its own (a silently dropped connection is how a
      // domain is most often unreachable), so the fallback is left time to answer.
      const connectTimeoutMs = options.timeoutMs === undefined ? PRIMARY_CONNECT_MS : Math.min(PRIMARY_CONNECT_MS, Math.floor(options.timeoutMs / 2));
      try {
        return await transport.send(url, { ...options, connectTimeoutMs });
      } catch (err) {
        if (!notSent(err)) throw err;
        const left = options.timeoutMs === undefined ? undefined : options.timeoutMs - (now() - start);
        if (left !== undefined && left <= 0) throw err;
        return transport.send(`${to}${url.slice(from.length)}`, { ...options, ...(left === undefined ? {} : { timeoutMs: left }) });
      }
    },
  };
}

/** The transport of every client no rehearsal runs over: nothing intercepts it. */
const plain = createTransport();
export const send = plain.send;
export const sendRaw = plain.sendRaw;

/** How long a rehearsal waits for a connection it opens; one that is not ready is left to the request. */
const CONNECT_TIMEOUT_MS = 1000;

/**
 * A function's rehearsal (lib/runtime.ts Priming): the composition root makes one, builds the
 * clients to rehearse over `createTransport(rehearsal.interceptor)`, and `run` answers their
 * requests from recordings instead of sending them. Outside `run` the interceptor lets every
 * request through, so the same clients serve the real requests.
 *
 * While it runs, it also opens a kept-alive connection (TCP, and TLS for https) to each origin
 * the rehearsal addresses, with a `GET /` that changes nothing: the origins are the ones the
 * clients really use (the SDK's resolved endpoint included), the handshakes overlap the
 * rehearsal's CPU work, and the first real request of each finds its socket ready. `run`
 * resolves once those connections are open or have failed (a failure is left to the request,
 * which opens its own).
 *
 * Not a HEAD: Node's client closes the socket after a HEAD answer that has no Content-Length
 * (as Node's own servers send it), so the connection would be gone before the first request;
 * a GET's answer is always framed, and its socket goes back to the pool.
 */
export class Rehearsal {
  private running: { recordings: readonly Recording[]; connections: Map<string, Promise<unknown>>; missed?: Error } | undefined;

  readonly interceptor: Interceptor = (url, { method, headers = {}, body }) => {
    if (!this.running) return undefined;
    const { origin, path } = splitUrl(url);
    // Handled at once: a refused or unresolvable origin must not become an unhandled rejection
    // (which ends the process) while the rehearsal is still running.
    if (!this.running.connections.has(origin)) this.running.connections.set(origin, attempt(`${origin}/`, { method: 'GET', timeoutMs: CONNECT_TIMEOUT_MS }).catch(() => undefined));
    // The SDK's body is a Uint8Array subclass that warns when read as a string: read its bytes.
    const text = typeof body === 'string' ? body : body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8') : '';
    const request = { url, method, headers, body: text };
    for (const recording of this.running.recordings) {
      const answer = recording(request);
      if (answer) return answer;
    }
    // Loud: the rehearsal fails, and the wrapper logs `priming failed` with this reason. The
    // path and the operation only (a DynamoDB target, a script's marker): a query may hold a
    // secret (jscode2session's).
    const operation = headers['x-amz-target'] ?? /-- [\w:-]+/.exec(text)?.[0] ?? '';
    const missed = new Error(`the rehearsal has no recorded answer for ${method} ${origin}${path.split('?')[0]} ${operation}`.trim());
    // Kept: the adapter may wrap this error (or drop it, as the WeChat client does with its cause).
    this.running.missed ??= missed;
    throw missed;
  };

  /**
   * Runs `rehearse` with every request of the clients over this rehearsal answered by
   * `recordings`. A request none of them answers fails the run with its own error, whatever
   * the adapter made of it.
   */
  async run<T>(recordings: readonly Recording[], rehearse: () => Promise<T>): Promise<T> {
    // One at a time: a second run's end would take the first's recordings away mid-run, and
    // its requests would then go out for real.
    if (this.running) throw new Error('a rehearsal is running already');
    const running: NonNullable<Rehearsal['running']> = { recordings, connections: new Map() };
    this.running = running;
    let result: T;
    try {
      result = await rehearse();
    } catch (err) {
      throw running.missed ?? err;
    } finally {
      this.running = undefined;
      await Promise.allSettled(running.connections.values());
    }
    if (running.missed) throw running.missed;
    return result;
  }
}

interface Origin {
  protocol: string;
  hostname: string;
  port: string;
}

/** The few origins a container talks to, parsed once each (parsing a URL per request shows in the CPU profile). */
const origins = new Map<string, Origin>();

/** node:http's request options for `url`: its origin parsed once, its path and query as given. */
/** A URL's origin (scheme, host and port, as written) and the rest of it. */
function splitUrl(url: string): { origin: string; path: string } {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  return slash === -1 ? { origin: url, path: '/' } : { origin: url.slice(0, slash), path: url.slice(slash) };
}

function requestTarget(url: string): Origin & { path: string } {
  const { origin, path } = splitUrl(url);
  let parsed = origins.get(origin);
  if (!parsed) {
    const { protocol, hostname, port, pathname, search } = new URL(origin);
    if (protocol !== 'http:' && protocol !== 'https:') throw new TypeError(`unsupported protocol ${protocol}`);
    if (pathname !== '/' || search) throw new TypeError('not an origin');
    // [::1] in a URL is ::1 to the socket.
    parsed = { protocol, hostname: hostname.replace(/^\[(.*)\]$/, '$1'), port };
    origins.set(origin, parsed);
  }
  return { ...parsed, path };
}

function attempt(
  url: string,
  { method, headers = {}, body, timeoutMs, connectTimeoutMs, signal }: Omit<SendOptions, 'method' | 'body' | 'idempotent'> & { method: string; body?: string | Uint8Array },
  lookup?: LookupFunction,
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const target = requestTarget(url);
    const client = target.protocol === 'https:' ? https : http;
    const agent = target.protocol === 'https:' ? agents['https:'] : agents['http:'];
    let timer: NodeJS.Timeout | undefined;
    let connectTimer: NodeJS.Timeout | undefined;
    let settled = false;
    // Whether the request may have reached the server: once its connection is up (TLS done, for
    // https). A failure before that (DNS, a refused connection, a failed handshake) sent nothing.
    let connected = false;
    const finish = (err: Error | undefined, result?: RawResult) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (connectTimer) clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        request.destroy();
        reject(err);
      } else resolve(result!);
    };
    const onAbort = () => finish(signal?.reason instanceof Error ? signal.reason : new HttpTimeoutError('aborted'));

    const request = client.request(
      {
        ...target,
        method,
        agent,
        ...(lookup ? { lookup } : {}),
        headers: body === undefined ? headers : { ...headers, 'content-length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          finish(undefined, {
            status: response.statusCode ?? 0,
            headers: response.headers as Record<string, string>,
            body: Buffer.concat(chunks),
          }),
        );
        response.on('error', (err) => finish(err));
      },
    );
    request.on('socket', (socket) => {
      // A kept-alive socket is connected already; a new one once its connect (or TLS) event fires.
      if (request.reusedSocket) connected = true;
      else socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => (connected = true));
    });
    request.on('error', (err) => finish(Object.assign(err, { reusedSocket: request.reusedSocket, notSent: !connected })));
    if (timeoutMs !== undefined) timer = setTimeout(() => finish(Object.assign(new HttpTimeoutError(`no answer within ${timeoutMs} ms`), { notSent: !connected })), timeoutMs);
    if (connectTimeoutMs !== undefined) {
      connectTimer = setTimeout(() => {
        if (!connected) finish(Object.assign(new HttpTimeoutError(`no connection within ${connectTimeoutMs} ms`), { notSent: true }));
      }, connectTimeoutMs);
    }
    if (signal) {
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    }
    request.end(body);
  });
}
