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
 *
 * It refuses what Upstash would refuse (see UPSTASH_SURFACE below), so a command or option
 * that works on the local redis-server but not on Upstash fails the tests, not production.
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
  /** Rotates the token, as resetting it in Upstash's console does: the old one answers 401 from now on. */
  setToken(token: string): void;
}

const MAX_BODY = 1024 * 1024;

export async function startUpstashGateway(options: { redis: RedisAddress; token: string; port?: number }): Promise<RunningGateway> {
  const redis = new RespClient(options.redis);
  let expected = Buffer.from(`Bearer ${options.token}`);
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
        const refusals = commands.map(upstashRefusal);
        if (url.pathname === '/multi-exec') {
          // Upstash discards a transaction as a whole, with one error, when a command in it is unsupported.
          const refusal = refusals.find((r) => r !== undefined);
          if (refusal) return sendJson(res, 400, { error: refusal });
          const results = await runTransaction(redis, commands);
          if (!results) return sendJson(res, 400, { error: 'EXECABORT Transaction discarded because of previous errors.' });
          return sendJson(res, 200, results.map((reply) => toEntry(reply, base64)));
        }
        // A pipeline is not atomic: the refused commands answer an error in their place, the others run.
        const replies = await redis.send(commands.filter((_, i) => refusals[i] === undefined));
        let next = 0;
        return sendJson(res, 200, refusals.map((refusal) => (refusal !== undefined ? { error: refusal } : toEntry(replies[next++]!, base64))));
      }

      const command =
        url.pathname === '/'
          ? parseCommands(body, false)[0]!
          : url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (command.length === 0) return sendJson(res, 400, { error: 'ERR empty command' });
      stats.commands++;
      const refusal = upstashRefusal(command);
      if (refusal) return sendJson(res, 400, { error: refusal });
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
    setToken(token) {
      expected = Buffer.from(`Bearer ${token}`);
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

// ─── What Upstash accepts ──────────────────────────────────────────────────────────────────

/** How a command's arguments may look, where that is narrower than the local redis-server's. */
interface Form {
  /** For a command the page lists whole (e.g. PUBSUB): the subcommands Redis 6.2 has. */
  subcommands?: string;
  /** Arguments before the options (key, value, …): not checked here. */
  positional?: number;
  /** Options that take no value. */
  flags?: string;
  /** Options that take values, and how many. */
  valued?: Record<string, number>;
  /** Options Redis 6.2 refuses together, and why. */
  notTogether?: [string, string, string][];
}

/**
 * The allowlist. Source: Upstash's "Redis® API Compatibility" page,
 * https://upstash.com/docs/redis/overall/rediscompatibility, in its last revision that said
 * "Upstash supports Redis client protocol up to version 6.2" (upstash/docs 19d8eae,
 * 2025-02-17). Later revisions say 8.2, but a database is not upgraded by a docs change, so we
 * hold to the conservative reading: a command the page lists, in its Redis 6.2 form.
 *
 * - `commands`: the page's rows, minus the Redis 7.0 commands that revision listed as "being
 *   added" (EXPIRETIME, PEXPIRETIME, LMPOP, BLMPOP, SINTERCARD, ZINTERCARD, ZMPOP, BZMPOP,
 *   EVAL_RO, EVALSHA_RO), and minus ACL, which the page says is "no longer supported for newly
 *   created databases on the AWS platform" since May 2024. Never listed, so refused: OBJECT,
 *   CLIENT, INFO, CONFIG, SORT, WAIT, MEMORY, FUNCTION/FCALL, and Cluster (marked ❌).
 * - `forms`: options, where Redis after 6.2 accepts more than 6.2 did (the local redis-server
 *   is 7.x) or where this project relies on the exact form. Not checked, though also post-6.2:
 *   XADD's `<ms>-*` id (7.0), upper-case GEO units (7.0), BITOP DIFF/ANDOR/ONE and
 *   XADD/XTRIM KEEPREF/DELREF/ACKED (8.2); nor XREAD/XREADGROUP's BLOCK (see `notHere`).
 * - `notHere`: listed by the page, but not something this gateway can pass over the one
 *   Redis connection all its requests share (Upstash serves them per HTTP request, or on
 *   endpoints of their own).
 */
const UPSTASH_SURFACE: { commands: Record<string, string>; forms: Record<string, Form>; notHere: Record<string, string> } = {
  commands: {
    String: 'APPEND - DECR - DECRBY - GET - GETDEL - GETEX - GETRANGE - GETSET - INCR - INCRBY - INCRBYFLOAT - MGET - MSET - MSETNX - PSETEX - SET - SETEX - SETNX - SETRANGE - STRLEN',
    Bitmap: 'BITCOUNT - BITFIELD - BITFIELD_RO - BITOP - BITPOS - GETBIT - SETBIT',
    Hash: 'HDEL - HEXISTS - HGET - HGETALL - HINCRBY - HINCRBYFLOAT - HKEYS - HLEN - HMGET - HMSET - HSCAN - HSET - HSETNX - HSTRLEN - HRANDFIELD - HVALS',
    List: 'BLMOVE - BLPOP - BRPOP - BRPOPLPUSH - LINDEX - LINSERT - LLEN - LMOVE - LPOP - LPOS - LPUSH - LPUSHX - LRANGE - LREM - LSET - LTRIM - RPOP - RPOPLPUSH - RPUSH - RPUSHX',
    Set: 'SADD - SCARD - SDIFF - SDIFFSTORE - SINTER - SINTERSTORE - SISMEMBER - SMEMBERS - SMISMEMBER - SMOVE - SPOP - SRANDMEMBER - SREM - SSCAN - SUNION - SUNIONSTORE',
    SortedSet:
      'BZPOPMAX - BZPOPMIN - ZADD - ZCARD - ZCOUNT - ZDIFF - ZDIFFSTORE - ZINCRBY - ZINTER - ZINTERSTORE - ZLEXCOUNT - ZMSCORE - ' +
      'ZPOPMAX - ZPOPMIN - ZRANDMEMBER - ZRANGE - ZRANGESTORE - ZRANGEBYLEX - ZRANGEBYSCORE - ZRANK - ZREM - ZREMRANGEBYLEX - ' +
      'ZREMRANGEBYRANK - ZREMRANGEBYSCORE - ZREVRANGE - ZREVRANGEBYLEX - ZREVRANGEBYSCORE - ZREVRANK - ZSCAN - ZSCORE - ZUNION - ' +
      'ZUNIONSTORE',
    Geo: 'GEOADD - GEODIST - GEOHASH - GEOPOS - GEORADIUS - GEORADIUS_RO - GEORADIUSBYMEMBER - GEORADIUSBYMEMBER_RO - GEOSEARCH - GEOSEARCHSTORE',
    HyperLogLog: 'PFADD - PFCOUNT - PFMERGE',
    Scripting: 'EVAL - EVALSHA - SCRIPT EXISTS - SCRIPT LOAD - SCRIPT FLUSH',
    PubSub: 'SUBSCRIBE - PSUBSCRIBE - UNSUBSCRIBE - PUNSUBSCRIBE - PUBLISH - PUBSUB',
    Transactions: 'DISCARD - EXEC - MULTI - UNWATCH - WATCH',
    Generic: 'COPY - DEL - DUMP - EXISTS - EXPIRE - EXPIREAT - KEYS - PERSIST - PEXPIRE - PEXPIREAT - PTTL - RANDOMKEY - RENAME - RENAMENX - RESTORE - SCAN - TOUCH - TTL - TYPE - UNLINK',
    Connection: 'AUTH - HELLO - ECHO - PING - QUIT - RESET - SELECT',
    Server: 'DBSIZE - FLUSHALL - FLUSHDB - MONITOR - TIME',
    JSON:
      'JSON.ARRAPPEND - JSON.ARRINSERT - JSON.ARRINDEX - JSON.ARRLEN - JSON.ARRPOP - JSON.ARRTRIM - JSON.CLEAR - JSON.DEL - ' +
      'JSON.FORGET - JSON.GET - JSON.MERGE - JSON.MGET - JSON.MSET - JSON.NUMINCRBY - JSON.NUMMULTBY - JSON.OBJKEYS - ' +
      'JSON.OBJLEN - JSON.RESP - JSON.SET - JSON.STRAPPEND - JSON.STRLEN - JSON.TOGGLE - JSON.TYPE',
    Streams: 'XACK - XADD - XAUTOCLAIM - XCLAIM - XDEL - XGROUP - XINFO GROUPS - XINFO CONSUMERS - XLEN - XPENDING - XRANGE - XREAD - XREADGROUP - XREVRANGE - XTRIM',
  },
  forms: {
    // NX with GET: Redis 6.2 answers "syntax error"; 7.0 made it a claim-and-read in one.
    SET: { positional: 2, flags: 'NX XX KEEPTTL GET', valued: { EX: 1, PX: 1, EXAT: 1, PXAT: 1 }, notTogether: [['NX', 'GET', 'is a Redis 7.0 form']] },
    // NX | XX | GT | LT came in 7.0.
    EXPIRE: { positional: 2 },
    PEXPIRE: { positional: 2 },
    EXPIREAT: { positional: 2 },
    PEXPIREAT: { positional: 2 },
    SCAN: { positional: 1, valued: { MATCH: 1, COUNT: 1, TYPE: 1 } },
    // HSCAN NOVALUES came in 7.4.
    HSCAN: { positional: 2, valued: { MATCH: 1, COUNT: 1 } },
    SSCAN: { positional: 2, valued: { MATCH: 1, COUNT: 1 } },
    ZSCAN: { positional: 2, valued: { MATCH: 1, COUNT: 1 } },
    ZRANGE: { positional: 3, flags: 'BYSCORE BYLEX REV WITHSCORES', valued: { LIMIT: 2 } },
    // WITHSCORE came in 7.2.
    ZRANK: { positional: 2 },
    ZREVRANK: { positional: 2 },
    // BYTE | BIT came in 7.0.
    BITCOUNT: { positional: 3 },
    BITPOS: { positional: 4 },
    // SHARDCHANNELS and SHARDNUMSUB came in 7.0.
    PUBSUB: { subcommands: 'CHANNELS NUMSUB NUMPAT HELP' },
    XGROUP: { subcommands: 'CREATE SETID DESTROY CREATECONSUMER DELCONSUMER HELP' },
    // ENTRIESREAD came in 7.0.
    'XGROUP CREATE': { positional: 3, flags: 'MKSTREAM' },
    'XGROUP SETID': { positional: 3 },
  },
  notHere: {
    MULTI: 'send the transaction to /multi-exec',
    EXEC: 'send the transaction to /multi-exec',
    DISCARD: 'send the transaction to /multi-exec',
    ...Object.fromEntries(['WATCH', 'UNWATCH', 'AUTH', 'HELLO', 'SELECT', 'RESET', 'QUIT'].map((name) => [name, 'it would change the one Redis connection every request shares'])),
    ...Object.fromEntries(['SUBSCRIBE', 'PSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE'].map((name) => [name, 'Upstash serves it at /subscribe (server-sent events), which this gateway does not'])),
    MONITOR: 'Upstash serves it at /monitor (server-sent events), which this gateway does not',
    ...Object.fromEntries(['BLMOVE', 'BLPOP', 'BRPOP', 'BRPOPLPUSH', 'BZPOPMAX', 'BZPOPMIN'].map((name) => [name, 'it would block the one Redis connection every request shares'])),
  },
};

/** Every listed command; a subcommand the page lists on its own is written as it does, "SCRIPT LOAD". */
const LISTED = new Set(Object.values(UPSTASH_SURFACE.commands).flatMap((row) => row.split(' - ')));
/** Commands the page lists by subcommand only (SCRIPT, XINFO). */
const LISTED_BY_SUBCOMMAND = new Set([...LISTED].filter((name) => name.includes(' ')).map((name) => name.split(' ')[0]!));

const notAvailable = (name: string) => `ERR Command is not available: '${name}'`;

/**
 * Why Upstash would refuse this command, or undefined if it would take it. An unlisted
 * command gets Upstash's own wording; the other refusals say which rule they break.
 */
function upstashRefusal(command: string[]): string | undefined {
  const { name, listed, args } = resolveCommand(command[0]!, command[1], command.slice(1));
  if (!listed) return notAvailable(name);
  const reason = UPSTASH_SURFACE.notHere[name];
  if (reason) return `ERR ${name} is not served by the local Upstash gateway: ${reason}`;
  const formError = checkForm(name, args, (arg) => arg);
  if (formError) return `ERR syntax error: ${formError}`;
  const script = name === 'EVAL' || name === 'SCRIPT LOAD' ? args[0] : undefined;
  return script === undefined ? undefined : scriptRefusal(script);
}

/**
 * The command as the table names it ("GET", "SCRIPT LOAD", "XGROUP CREATE"), whether it is
 * accepted, and the arguments after its name.
 */
function resolveCommand(command: string, subcommand: string | undefined, rest: string[]): { name: string; listed: boolean; args: string[] } {
  const first = command.toUpperCase();
  const subcommands = UPSTASH_SURFACE.forms[first]?.subcommands?.split(' ');
  if (subcommand === undefined || (!subcommands && !LISTED_BY_SUBCOMMAND.has(first))) {
    return { name: first, listed: LISTED.has(first), args: rest };
  }
  const name = `${first} ${subcommand.toUpperCase()}`;
  // Listed one by one (SCRIPT LOAD), or a Redis 6.2 subcommand of a command listed whole (XGROUP).
  const listed = LISTED.has(name) || (LISTED.has(first) && subcommands?.includes(subcommand.toUpperCase()) === true);
  return { name, listed, args: rest.slice(1) };
}

/**
 * Checks the options after a form's positional arguments. `literal` gives an argument's text,
 * or undefined when it is not known (a script's computed argument): unknown arguments are not
 * judged, so a script is checked as far as its text shows.
 */
function checkForm(name: string, args: readonly string[], literal: (arg: string) => string | undefined): string | undefined {
  const form = UPSTASH_SURFACE.forms[name];
  if (form?.positional === undefined) return undefined;
  const flags = form.flags?.split(' ') ?? [];
  const seen = new Set<string>();
  for (let i = form.positional; i < args.length; i++) {
    const text = literal(args[i]!);
    if (text === undefined) continue;
    const option = text.toUpperCase();
    if (flags.includes(option)) seen.add(option);
    else if (form.valued?.[option] !== undefined) {
      seen.add(option);
      i += form.valued[option];
    } else return `'${text}' is not an option of ${name} in Redis 6.2, the protocol Upstash speaks`;
  }
  for (const [a, b, why] of form.notTogether ?? []) {
    if (seen.has(a) && seen.has(b)) return `${name} with both ${a} and ${b} ${why}, which Upstash (Redis 6.2) refuses`;
  }
  return undefined;
}

/**
 * What Upstash would refuse in a Lua script: a Redis 7.0 shebang line, or a `redis.call` /
 * `redis.pcall` whose command (a string literal) is not on the list, or whose literal options
 * break a form (e.g. SET with 'NX' and 'GET'). A best-effort static check of the script's text:
 * a command or option computed at run time is not seen, and every call counts, run or not.
 */
function scriptRefusal(script: string): string | undefined {
  if (script.startsWith('#!')) return "ERR Error compiling script: '#!' flags are a Redis 7.0 form, which Upstash (Redis 6.2) does not run";
  for (const args of scriptCalls(script)) {
    const [command, subcommand] = args.map(luaString);
    if (command === undefined) continue; // computed at run time: not seen
    const literals = args.slice(1).map(luaString);
    const { name, listed, args: rest } = resolveCommand(command, subcommand, literals.map((arg) => arg ?? UNKNOWN));
    if (!listed) return `ERR Error running script: ${notAvailable(name).slice('ERR '.length)}`;
    const formError = checkForm(name, rest, (arg) => (arg === UNKNOWN ? undefined : arg));
    if (formError) return `ERR Error running script: syntax error: ${formError}`;
  }
  return undefined;
}

/** Stands in for a script argument computed at run time (KEYS[1], ARGV[2], a variable…). */
const UNKNOWN = '\u0000unknown';

/** The argument texts of each `redis.call(…)` / `redis.pcall(…)` in a script, split at its top-level commas. */
function scriptCalls(script: string): string[][] {
  const calls: string[][] = [];
  for (const match of script.matchAll(/redis\s*\.\s*p?call\s*\(/g)) {
    const args: string[] = [];
    let depth = 0;
    let start = match.index + match[0].length;
    for (let i = start; i < script.length; i++) {
      const c = script[i]!;
      if (c === '"' || c === "'") {
        // Skip the string, escapes included.
        for (i++; i < script.length && script[i] !== c; i++) if (script[i] === '\\') i++;
      } else if (c === '(' || c === '{' || c === '[') depth++;
      else if ((c === ')' || c === '}' || c === ']') && depth > 0) depth--;
      else if (c === ',' && depth === 0) {
        args.push(script.slice(start, i).trim());
        start = i + 1;
      } else if (c === ')') {
        args.push(script.slice(start, i).trim());
        break;
      }
    }
    calls.push(args);
  }
  return calls;
}

/** The value of a Lua string literal ('NX' or "NX"), or undefined for anything else. */
function luaString(expression: string): string | undefined {
  const match = /^(['"])((?:\\.|(?!\1).)*)\1$/s.exec(expression);
  return match ? match[2]!.replace(/\\(.)/g, '$1') : undefined;
}
