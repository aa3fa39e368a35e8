import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RunningRedis } from '../../local/redis-server';
import { startUpstashGateway, type RunningGateway } from '../../local/upstash-gateway';

/** The local gateway must speak Upstash's REST protocol well enough for the real client. */
describe('Local Upstash gateway (integration)', () => {
  let redisServer: RunningRedis;
  let gateway: RunningGateway;
  let redis: Redis;
  const key = (name: string) => `gateway-test:${Math.random().toString(36).slice(2)}:${name}`;

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

  it('supports SET NX GET, which claims and reads in one command', async () => {
    const k = key('claim');
    expect(await redis.set(k, 'pending', { nx: true, get: true, ex: 30 })).toBeNull();
    expect(await redis.set(k, 'other', { nx: true, get: true, ex: 30 })).toBe('pending');
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

  it('discards a whole transaction when one command cannot be queued', async () => {
    const k = key('abort');
    const before = await redis.get(k);
    const response = await fetch(`${gateway.url}/multi-exec`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-token' },
      body: JSON.stringify([['SET', k, 'v'], ['NOSUCHCOMMAND']]),
    });
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
});
