import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { listen, readBody, sendJson, type RunningServer } from './http-util';
import { RespClient, type RedisAddress, type Reply } from './resp';

/**
 * An Upstash-compatible REST gateway in front of a real redis-server, so `@upstash/redis`
 * runs unchanged against local Redis. It speaks what the client uses:
 *   POST /             ["SET","k","v"]          → {"result": …} | 400 {"error": …}
 *   POST /pipeline     [["SET",…],["GET",…]]    → [{"result": …} | {"error": …}, …]
 *   POST /multi-exec   same, run in MULTI/EXEC  → same, atomically
 *   GET  /set/k/v      path-style, handy with curl
 * with Bearer-token auth and `Upstash-Encoding: base64` (strings base64-encoded, "OK" as is).
 */
export interface GatewayStats {
  requests: number;
  commands: number;
}

export interface RunningGateway extends RunningServer {
  token: string;
  stats: GatewayStats;
  resetStats(): void;
  /**
   * Fault injection for tests: the next `count` requests to `path` (whose body includes
   * `bodyIncludes`, when given) answer 503 without reaching Redis.
   */
  failNext(path: '/' | '/pipeline' | '/multi-exec', count?: number, bodyIncludes?: string): void;
}

const MAX_BODY = 1024 * 1024;

export async function startUpstashGateway(options: { redis: RedisAddress; token: string; port?: number }): Promise<RunningGateway> {
  const redis = new RespClient(options.redis);
  const expected = Buffer.from(`Bearer ${options.token}`);
  const stats: GatewayStats = { requests: 0, commands: 0 };
  const faults: { path: string; count: number; bodyIncludes?: string }[] = [];

  const server = http.createServer(async (req, res) => {
    try {
      const auth = Buffer.from(req.headers.authorization ?? '');
      if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
        return sendJson(res, 401, { error: 'Unauthorized' });
      }
      const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
      const url = new URL(req.url ?? '/', 'http://gateway');
      stats.requests++;
      const body = req.method === 'POST' ? await readBody(req, MAX_BODY) : Buffer.alloc(0);
      const fault = faults.find((f) => f.count > 0 && f.path === url.pathname && (!f.bodyIncludes || body.includes(f.bodyIncludes)));
      if (fault) {
        fault.count--;
        return sendJson(res, 503, { error: 'Service Unavailable: injected fault' });
      }

      if (url.pathname === '/pipeline' || url.pathname === '/multi-exec') {
        const commands = parseCommands(body, true);
        stats.commands += commands.length;
        const results = url.pathname === '/pipeline' ? await redis.send(commands) : await runTransaction(redis, commands);
        if (!results) return sendJson(res, 400, { error: 'EXECABORT Transaction discarded because of previous errors.' });
        return sendJson(res, 200, results.map((reply) => toEntry(reply, base64)));
      }

      const command =
        url.pathname === '/'
          ? parseCommands(body, false)[0]!
          : url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (command.length === 0) return sendJson(res, 400, { error: 'ERR empty command' });
      stats.commands++;
      const [reply] = await redis.send([command]);
      const entry = toEntry(reply!, base64);
      return sendJson(res, 'error' in entry ? 400 : 200, entry);
    } catch (err) {
      if (err instanceof SyntaxError || (err instanceof Error && err.message.startsWith('bad command'))) {
        return sendJson(res, 400, { error: `ERR ${err.message}` });
      }
      // Redis is down or went away: answer like an unavailable upstream.
      return sendJson(res, 503, { error: 'Service Unavailable: redis is not reachable' });
    }
  });

  const running = await listen(server, options.port);
  return {
    ...running,
    token: options.token,
    stats,
    resetStats() {
      stats.requests = 0;
      stats.commands = 0;
    },
    failNext(path, count = 1, bodyIncludes) {
      faults.push({ path, count, ...(bodyIncludes ? { bodyIncludes } : {}) });
    },
    async close() {
      await running.close();
      redis.close();
    },
  };
}

function parseCommands(body: Buffer, many: boolean): string[][] {
  const parsed: unknown = JSON.parse(body.toString('utf8'));
  const list = many ? parsed : [parsed];
  if (!Array.isArray(list) || list.length === 0) throw new Error('bad command: expected a non-empty array');
  return list.map((command) => {
    if (!Array.isArray(command) || command.length === 0) throw new Error('bad command: expected an array of arguments');
    return command.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg)));
  });
}

/** MULTI, the commands, EXEC in one write; null when Redis refused to queue one of them. */
async function runTransaction(redis: RespClient, commands: string[][]): Promise<Reply[] | null> {
  const replies = await redis.send([['MULTI'], ...commands, ['EXEC']]);
  const exec = replies[replies.length - 1]!;
  if (exec.type !== 'array' || exec.value === null) return null;
  return exec.value;
}

function toEntry(reply: Reply, base64: boolean): { result: unknown } | { error: string } {
  return reply.type === 'error' ? { error: reply.message } : { result: toJson(reply, base64) };
}

function toJson(reply: Reply, base64: boolean): unknown {
  switch (reply.type) {
    case 'status':
      return base64 && reply.value !== 'OK' ? Buffer.from(reply.value).toString('base64') : reply.value;
    case 'integer':
      return reply.value;
    case 'bulk':
      if (reply.value === null) return null;
      return base64 ? reply.value.toString('base64') : reply.value.toString('utf8');
    case 'array':
      return reply.value === null ? null : reply.value.map((item) => toJson(item, base64));
    case 'error':
      return reply.message;
  }
}
