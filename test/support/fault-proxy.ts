import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fault-injecting HTTP/1.1 proxy for tests: it sits between the functions and one upstream
 * (dynalite, the Upstash gateway or the WeChat stub) and, for the requests a rule matches,
 * loses time, answers or connections the way a real network does. Everything else passes
 * through unchanged.
 *
 * The point is partial failure: a request that reached the upstream and was applied, while
 * its caller saw a timeout or a broken connection. So a forwarded request always completes at
 * the upstream, whatever became of its caller, and `settled()` waits for those late writes
 * before a test reads the stores.
 */
export type FaultKind =
  /** Hold the request `delayMs`, then forward it and relay the answer (the caller may have timed out meanwhile: the upstream still applies it). */
  | 'delay-request'
  /** Forward at once; hold the upstream's answer `delayMs` before relaying it (caller times out; the write was applied). */
  | 'late-answer'
  /** Forward; when the answer arrives, close the caller's connection without sending any of it (the answer is lost). */
  | 'drop-answer'
  /** Forward; after the upstream answered, reset the caller's connection (TCP RST). */
  | 'reset-after'
  /** Do not forward; reset the caller's connection at once. */
  | 'refuse';

export interface ProxiedRequest {
  method: string;
  /** Path and query, as the caller sent them. */
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface FaultRule {
  match: (req: ProxiedRequest) => boolean;
  kind: FaultKind;
  /** Required for 'delay-request' and 'late-answer'. */
  delayMs?: number;
  /** How many matching requests to affect; 1 unless given. */
  times?: number;
}

export interface FaultLogEntry {
  method: string;
  path: string;
  fault?: FaultKind;
  /** What happened, e.g. "UpdateItem → 200, answer held 300 ms"; for failure messages. */
  summary: string;
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT, to put in the function's env instead of the upstream's URL. */
  url: string;
  inject(rule: FaultRule): void;
  /** Drops pending rules. */
  clear(): void;
  /**
   * Resolves when every request the proxy accepted has been forwarded and answered by the
   * upstream (delayed ones included), so a test can check the stores after late writes land.
   */
  settled(): Promise<void>;
  /** What passed through, in arrival order. */
  log: FaultLogEntry[];
  close(): Promise<void>;
}

interface Answer {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: Buffer;
}

interface ArmedRule {
  rule: FaultRule;
  left: number;
}

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1). The caller's
 * connection is not the upstream's, so the answer's are left for node to set; the request's
 * are forwarded as sent (harmless to the upstream, and what the caller actually sent).
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'te', 'trailer', 'upgrade']);

export async function startFaultProxy(options: { target: string }): Promise<FaultProxy> {
  const target = new URL(options.target);
  if (target.protocol !== 'http:' || target.pathname !== '/' || target.search) {
    throw new TypeError(`fault proxy target must be a plain http origin, got ${options.target}`);
  }
  // Keep-alive towards the upstream too, as the functions' own transport does: a fault must
  // not be an artefact of a fresh connection per request.
  const agent = new http.Agent({ keepAlive: true });
  const rules: ArmedRule[] = [];
  const inFlight = new Set<Promise<unknown>>();
  /** Held requests and answers: close() ends the holds at once. */
  const holds = new Map<NodeJS.Timeout, () => void>();
  const log: FaultLogEntry[] = [];
  let closed = false;

  const hold = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        holds.delete(timer);
        resolve();
      }, ms);
      holds.set(timer, resolve);
    });

  const forward = (req: ProxiedRequest, rawHeaders: string[]) =>
    new Promise<Answer>((resolve, reject) => {
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.path, headers: rawHeaders, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      upstream.on('error', reject);
      // Deliberately not tied to the caller: a caller that gave up does not take back a
      // request already on its way, and neither does this proxy.
      upstream.end(req.body);
    });

  const take = (req: ProxiedRequest): FaultRule | undefined => {
    const armed = rules.find((candidate) => candidate.left > 0 && candidate.rule.match(req));
    if (!armed) return undefined;
    armed.left--;
    if (armed.left === 0) rules.splice(rules.indexOf(armed), 1);
    return armed.rule;
  };

  const handle = async (incoming: http.IncomingMessage, res: http.ServerResponse, entry: FaultLogEntry): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const req: ProxiedRequest = { method: entry.method, path: entry.path, headers: incoming.headers, body: Buffer.concat(chunks) };
    const caller = incoming.socket;
    const label = summarize(req);

    const rule = take(req);
    if (rule) entry.fault = rule.kind;
    if (rule?.kind === 'refuse') {
      caller.resetAndDestroy();
      entry.summary = `${label}: refused (connection reset, not forwarded)`;
      return;
    }
    if (rule?.kind === 'delay-request') await hold(rule.delayMs!);
    if (closed) {
      entry.summary = `${label}: not forwarded, proxy closed`;
      return;
    }

    let answer: Answer;
    try {
      answer = await forward(req, incoming.rawHeaders);
    } catch (err) {
      entry.summary = `${label}: upstream failed: ${(err as Error).message}`;
      // What a gateway says when its upstream fails; the caller sees an answer, not a fault.
      if (!res.headersSent && !caller.destroyed) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: upstream failed: ${(err as Error).message}`);
      }
      return;
    }
    entry.summary = `${label} → ${answer.status}`;

    switch (rule?.kind) {
      case 'drop-answer':
        caller.destroy();
        entry.summary += ', answer dropped (connection closed)';
        return;
      case 'reset-after':
        caller.resetAndDestroy();
        entry.summary += ', connection reset after the upstream answered';
        return;
      case 'late-answer':
        entry.summary += `, answer held ${rule.delayMs} ms`;
        // The upstream has answered: the hold is the caller's business, not settled()'s.
        void hold(rule.delayMs!).then(() => relay(res, answer, entry));
        return;
      case 'delay-request':
        entry.summary += `, request held ${rule.delayMs} ms`;
        relay(res, answer, entry);
        return;
      default:
        relay(res, answer, entry);
    }
  };

  const server = http.createServer((incoming, res) => {
    // The upstream's Date is relayed as it is, not replaced by ours.
    res.sendDate = false;
    const entry: FaultLogEntry = { method: incoming.method ?? 'GET', path: incoming.url ?? '/', summary: 'in flight' };
    log.push(entry);
    const done = handle(incoming, res, entry).catch((err: Error) => {
      // A matcher that throws, or the caller going away mid-body: say so, never hang.
      entry.summary = `proxy error: ${err.message}`;
      if (!res.headersSent && !incoming.socket.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fault proxy: ${err.message}`);
      }
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    log,
    inject(rule) {
      const times = rule.times ?? 1;
      if (!Number.isInteger(times) || times < 1) throw new RangeError(`times must be a positive integer, got ${rule.times}`);
      if ((rule.kind === 'delay-request' || rule.kind === 'late-answer') && !(typeof rule.delayMs === 'number' && rule.delayMs >= 0)) {
        throw new RangeError(`${rule.kind} needs delayMs`);
      }
      rules.push({ rule, left: times });
    },
    clear() {
      rules.length = 0;
    },
    async settled() {
      // Requests that arrive while we wait (a client's retry) are waited for too.
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    async close() {
      closed = true;
      rules.length = 0;
      for (const [timer, resolve] of holds) {
        clearTimeout(timer);
        resolve();
      }
      holds.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // Also the sockets of requests still at the upstream: nothing may keep the process alive.
      agent.destroy();
    },
  };
}

function relay(res: http.ServerResponse, answer: Answer, entry: FaultLogEntry): void {
  if (res.destroyed || res.socket?.destroyed !== false) {
    entry.summary += ', caller gone';
    return;
  }
  const headers: string[] = [];
  for (let i = 0; i < answer.rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP.has(answer.rawHeaders[i]!.toLowerCase())) headers.push(answer.rawHeaders[i]!, answer.rawHeaders[i + 1]!);
  }
  res.writeHead(answer.status, answer.statusMessage, headers);
  res.end(answer.body);
}

/** A request in a few words for the log: the DynamoDB operation, the Redis command, or the path. */
function summarize(req: ProxiedRequest): string {
  const op = String(req.headers['x-amz-target'] ?? '').split('.')[1];
  if (op) return `${req.method} ${req.path} ${op}`;
  const commands = upstashCommands(req);
  if (commands) return `${req.method} ${req.path} ${commands.map((command) => String(command[0]).toUpperCase()).join(',')}`;
  return `${req.method} ${req.path}`;
}

/** DynamoDB's JSON protocol names the operation in a header: `x-amz-target: DynamoDB_20120810.UpdateItem`. */
export function dynamoOp(name: string): FaultRule['match'] {
  const expected = `DynamoDB_20120810.${name}`;
  return (req) => req.headers['x-amz-target'] === expected;
}

/**
 * An Upstash REST request whose (first) command is `name`, case-insensitively: POST `/` with
 * `["EVAL", script, numkeys, …]`, or POST `/pipeline` / `/multi-exec` with a list of such.
 * For EVAL, `scriptIncludes` picks one script by a marker substring of its text.
 */
export function upstashCommand(name: string, scriptIncludes?: string): FaultRule['match'] {
  const wanted = name.toUpperCase();
  return (req) => {
    const first = upstashCommands(req)?.[0];
    if (!first || String(first[0]).toUpperCase() !== wanted) return false;
    return scriptIncludes === undefined || (typeof first[1] === 'string' && first[1].includes(scriptIncludes));
  };
}

/** WeChat requests by path, e.g. `/sns/jscode2session` (the query is ignored). */
export function wechatPath(path: string): FaultRule['match'] {
  return (req) => new URL(req.path, 'http://wechat').pathname === path;
}

/** The commands of an Upstash REST request, or undefined when it is not one. */
function upstashCommands(req: ProxiedRequest): unknown[][] | undefined {
  if (req.method !== 'POST') return undefined;
  const pathname = new URL(req.path, 'http://upstash').pathname;
  let body: unknown;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    return undefined; // not JSON: not an Upstash command body
  }
  if (!Array.isArray(body) || body.length === 0) return undefined;
  if (pathname === '/') return [body];
  if (pathname === '/pipeline' || pathname === '/multi-exec') return body.every(Array.isArray) ? (body as unknown[][]) : undefined;
  return undefined;
}
