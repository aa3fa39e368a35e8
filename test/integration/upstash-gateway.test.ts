import { createHash } from 'node:crypto';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RunningRedis } from '../../local/redis-server';
import { startUpstashGateway, type RunningGateway } from '../../local/upstash-gateway';
import { TOUCH_SCRIPT } from '../../lib/adapters/redis-sessions';

/** The local gateway must speak Upstash's REST protocol well enough for the real client. */
describe('Local Upstash gateway (integration)', () => {
  let redisServer: RunningRedis;
  let gateway: RunningGateway;
  let redis: Redis;
  const key = (name: string) => `gateway-test:${Math.random().toString(36).slice(2)}:${name}`;
  const post = (path: string, body: unknown) =>
    fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer test-token' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    redisServer = await startRedis();
    gateway = await startUpstashGateway({ redis: redisServer.address, token: 'test-token' });
    redis = new Redis({ url: gateway.url, token: 'test-token', automaticDeserialization: false, enableTelemetry: false, retry: false });
  });
  afterAll(async () => {
    await gateway?.close();
    await redisServer?.close();
  });

  it('round-trips non-ASCII strings through base64 response encoding', async () => {
    const k = key('s');
    expect(await redis.set(k, '登录 ✓ "quoted"')).toBe('OK');
    expect(await redis.get(k)).toBe('登录 ✓ "quoted"');
  });

  it('answers integers as numbers and missing keys as null', async () => {
    const k = key('n');
    expect(await redis.incr(k)).toBe(1);
    expect(await redis.get(key('missing'))).toBeNull();
  });

  it('returns hashes as the flat field/value array Upstash sends', async () => {
    const k = key('h');
    await redis.hset(k, { a: '1', b: 'два' });
    // Without automatic deserialization the client hands the wire format through.
    expect(await redis.hgetall(k)).toEqual(['a', '1', 'b', 'два']);
  });

  it('runs a pipeline in one request', async () => {
    const before = gateway.stats.requests;
    const k = key('p');
    const results = await redis.pipeline().set(k, 'v').get(k).incr(key('pi')).exec();
    expect(results).toEqual(['OK', 'v', 1]);
    expect(gateway.stats.requests - before).toBe(1);
  });

  it('runs multi-exec atomically in one request', async () => {
    const before = gateway.stats.requests;
    const k = key('m');
    const tx = redis.multi();
    tx.sadd(k, 'x');
    tx.expire(k, 60);
    tx.smembers(k);
    expect(await tx.exec()).toEqual([1, 1, ['x']]);
    expect(gateway.stats.requests - before).toBe(1);
  });

  it('reports a command error to the client as an error', async () => {
    const k = key('e');
    await redis.set(k, 'text');
    await expect(redis.incr(k)).rejects.toThrow(/not an integer/);
  });

  it('discards a whole transaction when Redis cannot queue one of its commands', async () => {
    const k = key('abort');
    const before = await redis.get(k);
    const response = await post('/multi-exec', [['SET', k, 'v'], ['GET']]); // GET without its key
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.stringMatching(/EXECABORT/) });
    expect(await redis.get(k)).toBe(before);
  });

  it('refuses a wrong token', async () => {
    const intruder = new Redis({ url: gateway.url, token: 'wrong', enableTelemetry: false, retry: false });
    await expect(intruder.get('x')).rejects.toThrow(/Unauthorized/);
  });

  it('accepts path-style commands for curl', async () => {
    const k = key('path');
    const response = await fetch(`${gateway.url}/set/${encodeURIComponent(k)}/hello`, { headers: { authorization: 'Bearer test-token' } });
    expect(await response.json()).toEqual({ result: 'OK' });
    expect(await redis.get(k)).toBe('hello');
  });

  it('answers 503 while Redis is down and recovers when it returns', async () => {
    await redisServer.stop();
    try {
      await expect(redis.get('x')).rejects.toThrow(/redis is not reachable/);
    } finally {
      await redisServer.start();
    }
    expect(await redis.set(key('back'), '1')).toBe('OK');
  });

  describe('only what Upstash accepts (Redis 6.2 forms of the commands its compatibility page lists)', () => {
    /** Sends one command as @upstash/redis would, and answers what came back, refusal or not. */
    const run = async (...command: string[]) => {
      const response = await post('/', command);
      return { status: response.status, ...((await response.json()) as { result?: unknown; error?: string }) };
    };

    // Every command and option this project sends (lib/adapters/redis-sessions.ts, scripts/, the tests), in the form it sends them.
    const at = (name: string) => key(`allow:${name}`);
    const loaded = 'return 1';
    it.each(
      [
        ['GET', at('k')],
        ['SET', at('k'), 'v'],
        ['SET', at('k'), 'v', 'EX', '30'],
        ['SET', at('k'), 'v', 'PX', '30000', 'XX'],
        ['SET', at('k'), 'v', 'NX', 'EX', '30'],
        ['SET', at('k'), 'v', 'KEEPTTL', 'GET'],
        ['DEL', at('k'), at('k2')],
        ['EXISTS', at('k')],
        ['EXPIRE', at('k'), '60'],
        ['PEXPIRE', at('k'), '60000'],
        ['TTL', at('k')],
        ['PTTL', at('k')],
        ['INCR', at('n')],
        ['HSET', at('h'), 'a', '1', 'b', '2'],
        ['HMGET', at('h'), 'a', 'b'],
        ['HGETALL', at('h')],
        ['SADD', at('s'), 'x'],
        ['SMEMBERS', at('s')],
        ['ZADD', at('z'), '1', 'm'],
        ['ZRANGE', at('z'), '0', '-1'],
        ['ZRANGE', at('z'), '0', '10', 'BYSCORE', 'LIMIT', '0', '5', 'WITHSCORES'],
        ['ZREM', at('z'), 'm'],
        ['ZREMRANGEBYSCORE', at('z'), '-inf', '5'],
        ['SCAN', '0', 'MATCH', 'gateway-test:*', 'COUNT', '500'],
        ['EVAL', "local v = redis.call('GET', KEYS[1]) redis.call('PEXPIRE', KEYS[1], 1000) return v", '1', at('k')],
        ['SCRIPT', 'LOAD', loaded],
        ['EVALSHA', createHash('sha1').update(loaded).digest('hex'), '0'],
        // Named with the key's short name, so the test's name is the same in every run.
      ].map((command) => ({ command, name: command.map((arg) => arg.replace(/^gateway-test:.*:allow:/, '')).join(' ').slice(0, 80) })),
    )('accepts $name', async ({ command }) => {
      await run('SCRIPT', 'LOAD', loaded); // for EVALSHA, whatever the order
      const reply = await run(...command);
      expect(reply.error).toBeUndefined();
      expect(reply.status).toBe(200);
    });

    it("accepts the project's own scripts and transactions as @upstash/redis sends them", async () => {
      const k = key('tx');
      const tx = redis.multi();
      tx.hset(k, { uid: 'u', oid: 'o', mxp: String(Date.now() + 60_000) });
      tx.expire(k, 60);
      tx.set(key('code'), 'result', { ex: 300 });
      tx.zadd(key('idx'), { score: 1, member: 'm' });
      tx.zremrangebyscore(key('idx'), '-inf', 0);
      tx.expire(key('idx'), 60);
      await expect(tx.exec()).resolves.toHaveLength(6);
      // userId, openid, unionid, appid, home: a session without the last three (one stored before
      // sessions kept their app and the user's home row).
      await expect(redis.eval(TOUCH_SCRIPT, [k], [String(Date.now()), '60000'])).resolves.toEqual(['u', 'o', '', '', '']);
      await expect(redis.scan('0', { match: key('*'), count: 500 })).resolves.toHaveLength(2);
    });

    it('refuses a command the page does not list, as Upstash does, even one the local redis-server serves', async () => {
      const k = key('obj');
      await redis.set(k, 'v');
      // OBJECT is on no version of the page; redis-server would answer "embstr".
      expect(await run('OBJECT', 'ENCODING', k)).toEqual({ status: 400, error: "ERR Command is not available: 'OBJECT'" });
      // Cluster is marked ❌.
      expect(await run('CLUSTER', 'INFO')).toEqual({ status: 400, error: "ERR Command is not available: 'CLUSTER'" });
      // A subcommand the page does not list, of a command it lists by subcommand.
      expect(await run('SCRIPT', 'KILL')).toEqual({ status: 400, error: "ERR Command is not available: 'SCRIPT KILL'" });
    });

    it('refuses SET with both NX and GET (a Redis 7.0 form), and Redis never sees it', async () => {
      const k = key('nxget');
      const reply = await run('SET', k, 'pending', 'NX', 'GET', 'EX', '30');
      expect(reply.status).toBe(400);
      expect(reply.error).toMatch(/^ERR syntax error: SET with both NX and GET/);
      await expect(redis.set(k, 'pending', { nx: true, get: true, ex: 30 })).rejects.toThrow(/NX and GET/);
      expect(await redis.exists(k)).toBe(0);
    });

    it('refuses commands and options Redis added after 6.2', async () => {
      expect(await run('SINTERCARD', '1', key('s'))).toMatchObject({ status: 400, error: "ERR Command is not available: 'SINTERCARD'" });
      expect(await run('EXPIRE', key('e'), '60', 'NX')).toMatchObject({ status: 400, error: expect.stringMatching(/'NX' is not an option of EXPIRE/) });
      expect(await run('ZRANK', key('z'), 'm', 'WITHSCORE')).toMatchObject({ status: 400 });
    });

    it('refuses an EVAL whose script calls an unlisted command, before any of it runs', async () => {
      const k = key('script');
      const reply = await run('EVAL', "redis.call('SET', KEYS[1], 'ran') return redis.call('OBJECT', 'ENCODING', KEYS[1])", '1', k);
      expect(reply).toEqual({ status: 400, error: "ERR Error running script: Command is not available: 'OBJECT'" });
      expect(await redis.exists(k)).toBe(0);
      await expect(redis.eval("return redis.pcall('OBJECT', 'ENCODING', KEYS[1])", [k], [])).rejects.toThrow(/OBJECT/);
    });

    it('refuses a script that calls SET with literal NX and GET', async () => {
      const reply = await run('EVAL', "return redis.call(\"set\", KEYS[1], ARGV[1], 'nx', 'get', 'ex', 30)", '1', key('c'), 'pending');
      expect(reply.status).toBe(400);
      expect(reply.error).toMatch(/SET with both NX and GET/);
      // A literal "GET" as the value is a value, not the option.
      expect(await run('EVAL', "return redis.call('SET', KEYS[1], 'GET', 'NX')", '1', key('v'))).toMatchObject({ status: 200 });
    });

    it('answers a refused command in a pipeline in its place and runs the others', async () => {
      const k = key('pipe');
      const response = await post('/pipeline', [['SET', k, 'v'], ['OBJECT', 'ENCODING', k], ['GET', k]]);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual([{ result: 'OK' }, { error: "ERR Command is not available: 'OBJECT'" }, { result: 'v' }]);
    });

    it('discards a whole transaction with a refused command in it, as Upstash does', async () => {
      const k = key('tx-refused');
      const response = await post('/multi-exec', [['SET', k, 'v'], ['SET', key('other'), 'v', 'NX', 'GET']]);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: expect.stringMatching(/NX and GET/) });
      expect(await redis.exists(k)).toBe(0);
    });

    it('refuses what would tie up the one Redis connection all requests share', async () => {
      expect(await run('MULTI')).toMatchObject({ status: 400, error: expect.stringMatching(/\/multi-exec/) });
      expect(await run('BLPOP', key('l'), '0')).toMatchObject({ status: 400 });
      expect(await run('SELECT', '1')).toMatchObject({ status: 400 });
      // Still one database, still answering.
      expect(await run('PING')).toEqual({ status: 200, result: 'PONG' });
    });
  });
});
