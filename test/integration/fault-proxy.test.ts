import http from 'node:http';
import { keyedByOpenid } from '../support/local';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoClient, resendable } from '../../lib/adapters/dynamodb';
import { send } from '../../lib/adapters/http';
import { createRedisClient } from '../../lib/adapters/redis';
import { LOCAL_AWS_ENV, startDynamo, type RunningDynamo } from '../../local/dynamodb';
import { listen, type RunningServer } from '../../local/http-util';
import { startRedis, type RunningRedis } from '../../local/redis-server';
import { startUpstashGateway, type RunningGateway } from '../../local/upstash-gateway';
import { exited } from '../support/dev-server';
import { dynamoOp, startFaultProxy, upstashCommand, wechatPath, type FaultProxy, type ProxiedRequest } from '../support/fault-proxy';

/** What the counting upstream saw of one request, and when. */
interface Seen {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
  at: number;
}

/**
 * A tiny upstream that counts what reaches it and answers at once, so whatever a caller sees
 * beyond a plain answer is the proxy's doing.
 */
async function startCountingUpstream(): Promise<RunningServer & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    seen.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks), at: Date.now() });
    if (req.url === '/slow') {
      // Answers in 10 s, or never if the connection goes first.
      const timer = setTimeout(() => res.end('slow'), 10_000);
      return res.on('close', () => clearTimeout(timer));
    }
    if (req.url === '/chunked') {
      // No content-length: the answer's framing is per connection, and must still arrive whole.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first,');
      return setTimeout(() => res.end('second'), 5);
    }
    const body = Buffer.from([0x00, 0xff, 0x80, ...Buffer.from(`#${seen.length}`)]);
    // No Date, so the answer's headers are exactly these: a test can tell any header the proxy adds.
    res.sendDate = false;
    res.writeHead(203, 'Counted', [
      'Content-Type', 'application/octet-stream',
      'X-Count', String(seen.length),
      'Set-Cookie', 'a=1',
      'Set-Cookie', 'b=2',
      'Content-Length', String(body.length),
    ]);
    res.end(body);
  });
  return { ...(await listen(server)), seen };
}

interface Reply {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: Buffer;
}

/** A keep-alive node:http client, as the functions' transport is, with a short timeout. */
const agent = new http.Agent({ keepAlive: true });
function call(
  base: string,
  path: string,
  { method = 'POST', headers, body = 'payload', timeoutMs = 1000 }: { method?: string; headers?: string[]; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    const request = http.request({ hostname, port, path, method, agent, ...(headers ? { headers } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, statusMessage: res.statusMessage!, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    // As a function's transport gives up: destroy the socket, so nothing of this request lingers on the caller's side.
    const timer = setTimeout(() => request.destroy(Object.assign(new Error(`client timeout after ${timeoutMs} ms`), { code: 'CLIENT_TIMEOUT' })), timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', reject);
    request.end(body);
  });
}

const settle = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ value, error: undefined }),
    (error: NodeJS.ErrnoException) => ({ value: undefined, error }),
  );

describe('Function: startFaultProxy (integration)', () => {
  let upstream: Awaited<ReturnType<typeof startCountingUpstream>>;
  let proxy: FaultProxy;
  const counted = () => upstream.seen.length;

  beforeEach(async () => {
    upstream = await startCountingUpstream();
    proxy = await startFaultProxy({ target: upstream.url });
  });
  afterEach(async () => {
    await proxy?.close();
    await upstream?.close();
  });
  afterAll(() => agent.destroy());

  describe('without a matching rule', () => {
    it('forwards the request byte for byte and relays the answer whole', async () => {
      // Raw headers, so the test knows every byte the proxy was sent: names' case, order and duplicates included.
      const body = Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x7d]);
      const headers = [
        'Host', 'api.example:443',
        'Authorization', 'AWS4-HMAC-SHA256 Credential=local/20261125/us-east-1/dynamodb/aws4_request, Signature=abc',
        'X-Amz-Target', 'DynamoDB_20120810.GetItem',
        'x-dup', '1',
        'x-dup', '2',
        'Content-Length', String(body.length),
        'Connection', 'keep-alive',
      ];

      const reply = await call(proxy.url, '/some/path?q=a%2Bb&r=x+y', { method: 'PUT', headers, body });

      expect(upstream.seen).toHaveLength(1);
      expect(upstream.seen[0]).toMatchObject({ method: 'PUT', url: '/some/path?q=a%2Bb&r=x+y', rawHeaders: headers });
      expect(upstream.seen[0]!.body.equals(body)).toBe(true);
      expect(reply.status).toBe(203);
      expect(reply.statusMessage).toBe('Counted');
      expect(reply.body.equals(Buffer.from([0x00, 0xff, 0x80, ...Buffer.from('#1')]))).toBe(true);
      // The upstream's headers as it sent them; only the per-connection ones are the proxy's own.
      const pairs = (raw: string[]) => raw.flatMap((name, i) => (i % 2 === 0 ? [[name, raw[i + 1]!]] : []));
      expect(pairs(reply.rawHeaders).filter(([name]) => !['connection', 'keep-alive'].includes(name!.toLowerCase()))).toEqual([
        ['Content-Type', 'application/octet-stream'],
        ['X-Count', '1'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
        ['Content-Length', '5'],
      ]);
    });

    it('relays an answer the upstream sent in chunks as one body', async () => {
      const reply = await call(proxy.url, '/chunked', { method: 'GET', body: '' });
      expect(reply.body.toString()).toBe('first,second');
    });

    it('answers 502 when the upstream is not there', async () => {
      await upstream.close();
      const reply = await call(proxy.url, '/x');
      expect(reply.status).toBe(502);
      expect(proxy.log.at(-1)!.summary).toMatch(/upstream failed/);
    });
  });

  describe('Method: inject', () => {
    it("delay-request: the caller times out, and the upstream still gets the request delayMs later", async () => {
      const sentAt = Date.now();
      proxy.inject({ match: () => true, kind: 'delay-request', delayMs: 400 });

      const { error } = await settle(call(proxy.url, '/write', { timeoutMs: 150 }));
      expect(error?.code).toBe('CLIENT_TIMEOUT');
      expect(counted()).toBe(0);

      await proxy.settled();
      expect(counted()).toBe(1);
      expect(upstream.seen[0]!.at - sentAt).toBeGreaterThanOrEqual(390);
    });

    it('delay-request: a caller that waits gets the answer after the delay', async () => {
      proxy.inject({ match: () => true, kind: 'delay-request', delayMs: 200 });
      const started = Date.now();
      const reply = await call(proxy.url, '/write');
      expect(reply.status).toBe(203);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    });

    it('late-answer: the upstream applies the request at once, and the caller times out', async () => {
      proxy.inject({ match: () => true, kind: 'late-answer', delayMs: 1000 });
      const pending = settle(call(proxy.url, '/write', { timeoutMs: 300 }));

      await waitFor(() => counted() === 1);
      const { error } = await pending;
      expect(error?.code).toBe('CLIENT_TIMEOUT');
      expect(counted()).toBe(1);
    });

    it('late-answer: a caller that waits long enough gets the answer after the hold', async () => {
      proxy.inject({ match: () => true, kind: 'late-answer', delayMs: 200 });
      const started = Date.now();
      const reply = await call(proxy.url, '/write');
      expect(reply.status).toBe(203);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      expect(counted()).toBe(1);
    });

    it('drop-answer: the upstream applies the request, and the caller sees the connection close with no answer', async () => {
      proxy.inject({ match: () => true, kind: 'drop-answer' });
      const { error } = await settle(call(proxy.url, '/write'));
      expect(error?.message).toBe('socket hang up');
      expect(counted()).toBe(1);
    });

    it('reset-after: the upstream applies the request, and the caller sees ECONNRESET', async () => {
      proxy.inject({ match: () => true, kind: 'reset-after' });
      const { error } = await settle(call(proxy.url, '/write'));
      // "read ECONNRESET": a real RST, not the "socket hang up" of a closed connection.
      expect(error).toMatchObject({ code: 'ECONNRESET', syscall: 'read' });
      expect(counted()).toBe(1);
    });

    it('refuse: the caller sees ECONNRESET and the upstream never sees the request', async () => {
      proxy.inject({ match: () => true, kind: 'refuse' });
      const { error } = await settle(call(proxy.url, '/write'));
      expect(error).toMatchObject({ code: 'ECONNRESET' });
      await proxy.settled();
      expect(counted()).toBe(0);
    });

    it('affects one matching request unless told how many, then passes them through', async () => {
      proxy.inject({ match: () => true, kind: 'refuse' });
      expect((await settle(call(proxy.url, '/a'))).error).toBeDefined();
      expect((await call(proxy.url, '/a')).status).toBe(203);
      expect(counted()).toBe(1);
    });

    it('times: 2 affects exactly two matching requests', async () => {
      proxy.inject({ match: () => true, kind: 'refuse', times: 2 });
      const outcomes = [];
      for (let i = 0; i < 4; i++) outcomes.push((await settle(call(proxy.url, `/n${i}`))).error?.code ?? 'answered');
      expect(outcomes).toEqual(['ECONNRESET', 'ECONNRESET', 'answered', 'answered']);
      expect(upstream.seen.map((s) => s.url)).toEqual(['/n2', '/n3']);
      expect(proxy.log.map((entry) => entry.fault)).toEqual(['refuse', 'refuse', undefined, undefined]);
    });

    it('leaves requests the rule does not match alone, and spends nothing on them', async () => {
      proxy.inject({ match: (req) => req.path === '/target', kind: 'refuse' });
      expect((await call(proxy.url, '/other')).status).toBe(203);
      expect((await settle(call(proxy.url, '/target'))).error?.code).toBe('ECONNRESET');
      expect(upstream.seen.map((s) => s.url)).toEqual(['/other']);
    });

    it('hands the matcher the method, path with query, headers and body', async () => {
      const matched: ProxiedRequest[] = [];
      proxy.inject({ match: (req) => (matched.push(req), false), kind: 'refuse' });
      // Raw headers: node adds no Host of its own then.
      const reply = await call(proxy.url, '/m?x=1', { headers: ['Host', 'h', 'X-Test', 'yes', 'Content-Length', '4'], body: 'body' });
      expect(reply.status).toBe(203);
      expect(matched).toHaveLength(1);
      expect(matched[0]).toMatchObject({ method: 'POST', path: '/m?x=1', headers: { 'x-test': 'yes' } });
      expect(matched[0]!.body.toString()).toBe('body');
    });

    it('refuses a delayed kind without delayMs, and a times that is not a positive integer', () => {
      expect(() => proxy.inject({ match: () => true, kind: 'late-answer' })).toThrow(/delayMs/);
      expect(() => proxy.inject({ match: () => true, kind: 'refuse', times: 0 })).toThrow(/times/);
    });
  });

  describe('Method: clear', () => {
    it('drops the rules not yet spent', async () => {
      proxy.inject({ match: () => true, kind: 'refuse', times: 5 });
      proxy.clear();
      expect((await call(proxy.url, '/a')).status).toBe(203);
    });
  });

  describe('Method: settled', () => {
    it('waits for a delayed request to reach the upstream after its caller gave up', async () => {
      proxy.inject({ match: () => true, kind: 'delay-request', delayMs: 300 });
      await settle(call(proxy.url, '/late', { timeoutMs: 50 }));
      expect(counted()).toBe(0);
      await proxy.settled();
      expect(counted()).toBe(1);
    });

    it('resolves at once when nothing is in flight', async () => {
      await call(proxy.url, '/a');
      const first = await Promise.race([proxy.settled().then(() => 'settled'), new Promise((r) => setTimeout(() => r('still waiting'), 0))]);
      expect(first).toBe('settled');
    });
  });

  describe('Property: log', () => {
    it('says what happened to each request', async () => {
      proxy.inject({ match: (req) => req.path === '/dropped', kind: 'drop-answer' });
      await call(proxy.url, '/plain');
      await settle(call(proxy.url, '/dropped'));
      expect(proxy.log).toEqual([
        { method: 'POST', path: '/plain', summary: 'POST /plain → 203' },
        { method: 'POST', path: '/dropped', fault: 'drop-answer', summary: 'POST /dropped → 203, answer dropped (connection closed)' },
      ]);
    });
  });

  describe('Method: close', () => {
    it('leaves nothing that keeps the process alive, even with a request and an answer on hold', async () => {
      // In a process of its own: whether it exits by itself is the only honest check. Its
      // upstream lives here, in this process, so only the proxy's own sockets and timers can
      // keep the child alive (the upstream answers /slow after 10 s).
      const dir = mkdtempSync(join(tmpdir(), 'fault-proxy-'));
      const script = join(dir, 'close.mts');
      writeFileSync(
        script,
        `
        import http from 'node:http';
        import { startFaultProxy } from ${JSON.stringify(resolve('test/support/fault-proxy.ts'))};
        const proxy = await startFaultProxy({ target: process.argv[2] });
        const agent = new http.Agent({ keepAlive: true });
        const post = (path) => new Promise((resolve) => {
          const req = http.request(proxy.url + path, { agent, method: 'POST' }, (res) => { res.resume(); res.on('end', resolve); });
          req.setTimeout(100, () => req.destroy());
          req.on('error', resolve);
          req.end('x');
        });
        await post('/plain');                     // leaves a keep-alive socket to the upstream
        await post('/slow');                      // a request still at the upstream when the proxy closes
        proxy.inject({ match: () => true, kind: 'late-answer', delayMs: 60000 });
        await post('/held');                      // an answer held for a minute
        proxy.inject({ match: () => true, kind: 'delay-request', delayMs: 60000 });
        await post('/delayed');                   // a request held for a minute
        await proxy.close();
        agent.destroy();
        console.log('closed');
        `,
      );
      try {
        const { spawn } = await import('node:child_process');
        const child = spawn(process.execPath, ['--import', 'tsx', script, upstream.url], { stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        let closedAt = 0;
        child.stdout.on('data', (chunk) => {
          output += chunk;
          if (!closedAt && output.includes('closed')) closedAt = Date.now();
        });
        child.stderr.on('data', (chunk) => (output += chunk));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        const code = await exited(child);
        clearTimeout(timer);
        expect(code, output).toBe(0);
        expect(closedAt, output).toBeGreaterThan(0);
        // Well under the 10 s a leftover forward would hold it, with room for a busy machine.
        expect(Date.now() - closedAt).toBeLessThan(5000);
        expect(upstream.seen.map((s) => s.url)).toEqual(['/plain', '/slow', '/held']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('Matchers', () => {
  const request = (method: string, path: string, body: unknown, headers: http.IncomingHttpHeaders = {}): ProxiedRequest => ({
    method,
    path,
    headers,
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  });

  it('dynamoOp matches the operation named in x-amz-target, and only it', () => {
    const update = request('POST', '/', '{}', { 'x-amz-target': 'DynamoDB_20120810.UpdateItem' });
    expect(dynamoOp('UpdateItem')(update)).toBe(true);
    expect(dynamoOp('GetItem')(update)).toBe(false);
    expect(dynamoOp('UpdateItem')(request('POST', '/', '{}'))).toBe(false);
  });

  it('upstashCommand matches the (first) command of /, /pipeline and /multi-exec, case-insensitively', () => {
    expect(upstashCommand('SET')(request('POST', '/', ['set', 'k', 'v']))).toBe(true);
    expect(upstashCommand('set')(request('POST', '/', ['SET', 'k', 'v']))).toBe(true);
    expect(upstashCommand('GET')(request('POST', '/', ['SET', 'k', 'v']))).toBe(false);
    expect(upstashCommand('HSET')(request('POST', '/multi-exec', [['hset', 'h', 'f', 'v'], ['set', 'k', 'v']]))).toBe(true);
    expect(upstashCommand('SET')(request('POST', '/multi-exec', [['hset', 'h', 'f', 'v'], ['set', 'k', 'v']]))).toBe(false);
    expect(upstashCommand('DEL')(request('POST', '/pipeline', [['del', 'k']]))).toBe(true);
    expect(upstashCommand('SET')(request('POST', '/', 'not json'))).toBe(false);
    expect(upstashCommand('SET')(request('POST', '/other', ['set', 'k', 'v']))).toBe(false);
  });

  it('upstashCommand picks an EVAL by a marker in its script', () => {
    const evalClaim = request('POST', '/', ['eval', "-- claim\nreturn redis.call('GET', KEYS[1])", '1', 'k']);
    expect(upstashCommand('EVAL', '-- claim')(evalClaim)).toBe(true);
    expect(upstashCommand('EVAL', '-- touch')(evalClaim)).toBe(false);
    expect(upstashCommand('EVAL')(evalClaim)).toBe(true);
  });

  it('wechatPath matches the path whatever the query', () => {
    expect(wechatPath('/sns/jscode2session')(request('GET', '/sns/jscode2session?appid=a&js_code=c', ''))).toBe(true);
    expect(wechatPath('/sns/jscode2session')(request('GET', '/sns/other?x=1', ''))).toBe(false);
  });
});

describe('Fault proxy in front of the real clients (integration)', () => {
  describe('DynamoDB (dynalite, createDynamoClient)', () => {
    const table = 'fault-proxy-test';
    let dynamo: RunningDynamo;
    let proxy: FaultProxy;

    beforeAll(async () => {
      // Region and credentials come from the environment, as in Lambda.
      Object.assign(process.env, LOCAL_AWS_ENV);
      dynamo = await startDynamo({ tables: [keyedByOpenid(table)] });
      proxy = await startFaultProxy({ target: dynamo.url });
    });
    afterAll(async () => {
      await proxy?.close();
      await dynamo?.close();
    });

    const counter = (Key: Record<string, { S: string }>) =>
      new UpdateItemCommand({ TableName: table, Key, UpdateExpression: 'ADD n :one', ExpressionAttributeValues: { ':one': { N: '1' } }, ReturnValues: 'ALL_OLD' });
    const newKey = () => ({ openid: { S: `late-${Math.random().toString(36).slice(2)}` } });

    it('sends a write not marked safe once: a late answer fails the call, and the write is applied once', async () => {
      const client = createDynamoClient({ endpoint: proxy.url, timeoutMs: 600 });
      const Key = newKey();
      const before = proxy.log.length;
      proxy.inject({ match: dynamoOp('UpdateItem'), kind: 'late-answer', delayMs: 3000 });

      await expect(client.send(counter(Key))).rejects.toMatchObject({ name: 'TimeoutError' });
      await proxy.settled();

      const updates = proxy.log.slice(before).filter((entry) => entry.summary.includes('UpdateItem'));
      expect(updates.map((entry) => entry.fault), JSON.stringify(proxy.log)).toEqual(['late-answer']);
      const { Item } = await dynamo.client.send(new GetItemCommand({ TableName: table, Key }));
      expect(Item?.n).toEqual({ N: '1' });
    });

    it('sends a write marked safe again after a late answer (the SDK\'s one retry), and the first copy lands too', async () => {
      // A counter is exactly what must never be marked: it shows that the copy is sent.
      const client = createDynamoClient({ endpoint: proxy.url, timeoutMs: 600 });
      const Key = newKey();
      const before = proxy.log.length;
      proxy.inject({ match: dynamoOp('UpdateItem'), kind: 'late-answer', delayMs: 3000 });

      const result = await client.send(resendable(counter(Key), 'idempotent'));
      await proxy.settled();

      const updates = proxy.log.slice(before).filter((entry) => entry.summary.includes('UpdateItem'));
      expect(updates.map((entry) => entry.fault), JSON.stringify(proxy.log)).toEqual(['late-answer', undefined]);
      expect(result.Attributes).toEqual({ ...Key, n: { N: '1' } });
      const { Item } = await dynamo.client.send(new GetItemCommand({ TableName: table, Key }));
      expect(Item?.n).toEqual({ N: '2' });
    });
  });

  describe('Upstash (gateway over redis-server, createRedisClient)', () => {
    let redisServer: RunningRedis;
    let gateway: RunningGateway;
    let proxy: FaultProxy;
    const token = 'fault-proxy-token';

    beforeAll(async () => {
      redisServer = await startRedis();
      gateway = await startUpstashGateway({ redis: redisServer.address, token });
      proxy = await startFaultProxy({ target: gateway.url });
    });
    afterAll(async () => {
      await proxy?.close();
      await gateway?.close();
      await redisServer?.close();
    });

    it("upstashCommand picks the real client's EVAL by its script marker and its MULTI/EXEC by the first command", async () => {
      // late-answer rather than refuse: the transport resends a request reset on a reused
      // keep-alive socket (see below), which would hide the match.
      const redis = createRedisClient({ url: proxy.url, token, keyPrefix: 'fp:', timeoutMs: 500 });
      const k = `fault-proxy:${Math.random().toString(36).slice(2)}`;
      proxy.inject({ match: upstashCommand('EVAL', '-- marker:claim'), kind: 'late-answer', delayMs: 2000 });
      proxy.inject({ match: upstashCommand('HSET'), kind: 'late-answer', delayMs: 2000 });

      await expect(redis.eval("-- marker:other\nreturn 'ok'", [], [])).resolves.toBe('ok');
      await expect(redis.eval("-- marker:claim\nreturn 'ok'", [], [])).rejects.toThrow();
      const tx = redis.multi();
      tx.hset(k, { f: 'v' });
      tx.expire(k, 60);
      await expect(tx.exec()).rejects.toThrow();
      await proxy.settled();

      expect(proxy.log.map((entry) => [entry.path, entry.fault])).toEqual([
        ['/', undefined],
        ['/', 'late-answer'],
        ['/multi-exec', 'late-answer'],
      ]);
      // The transaction whose answer came too late was applied all the same.
      expect(await redis.exists(k)).toBe(1);
    });
  });

  describe('WeChat (lib/adapters/http)', () => {
    let upstream: Awaited<ReturnType<typeof startCountingUpstream>>;
    let proxy: FaultProxy;

    beforeAll(async () => {
      upstream = await startCountingUpstream();
      proxy = await startFaultProxy({ target: upstream.url });
    });
    afterAll(async () => {
      await proxy?.close();
      await upstream?.close();
    });

    it('wechatPath picks jscode2session whatever its query', async () => {
      proxy.inject({ match: wechatPath('/sns/jscode2session'), kind: 'late-answer', delayMs: 2000 });
      await expect(send(`${proxy.url}/sns/other?x=1`, { method: 'GET', timeoutMs: 500, idempotent: false })).resolves.toMatchObject({ status: 203 });
      await expect(send(`${proxy.url}/sns/jscode2session?appid=a&js_code=c`, { method: 'GET', timeoutMs: 500, idempotent: false })).rejects.toMatchObject({ name: 'TimeoutError' });
      await proxy.settled();
      expect(upstream.seen.map((s) => s.url)).toEqual(['/sns/other?x=1', '/sns/jscode2session?appid=a&js_code=c']);
    });
  });

  describe('The functions\' transport (lib/adapters/http)', () => {
    let upstream: Awaited<ReturnType<typeof startCountingUpstream>>;
    let proxy: FaultProxy;

    beforeAll(async () => {
      upstream = await startCountingUpstream();
      proxy = await startFaultProxy({ target: upstream.url });
    });
    afterAll(async () => {
      await proxy?.close();
      await upstream?.close();
    });

    it.each(['drop-answer', 'reset-after'] as const)(
      '%s on a reused keep-alive socket: a request that is not idempotent fails and reaches the upstream once',
      async (kind) => {
        // The upstream applied it: a dropped or reset answer on a reused socket looks like a
        // stale keep-alive socket to the client, so sending it again would apply it twice.
        await send(`${proxy.url}/warm-${kind}`, { method: 'POST', body: 'warm', timeoutMs: 1000, idempotent: false });
        proxy.inject({ match: (req) => req.path === `/write-${kind}`, kind });

        await expect(send(`${proxy.url}/write-${kind}`, { method: 'POST', body: 'once', timeoutMs: 1000, idempotent: false })).rejects.toThrow();
        await proxy.settled();

        expect(upstream.seen.filter((s) => s.url === `/write-${kind}`)).toHaveLength(1);
      },
    );

    it.each(['drop-answer', 'reset-after'] as const)('%s on a reused keep-alive socket: an idempotent request is sent again and answered', async (kind) => {
      await send(`${proxy.url}/warm-i-${kind}`, { method: 'POST', body: 'warm', timeoutMs: 1000, idempotent: true });
      proxy.inject({ match: (req) => req.path === `/read-${kind}`, kind });

      const answer = await send(`${proxy.url}/read-${kind}`, { method: 'POST', body: 'twice is fine', timeoutMs: 1000, idempotent: true });
      await proxy.settled();

      expect(answer.status).toBe(203);
      expect(upstream.seen.filter((s) => s.url === `/read-${kind}`)).toHaveLength(2);
    });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
