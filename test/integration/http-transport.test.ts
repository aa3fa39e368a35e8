import http from 'node:http';
import { keyedByOpenid } from '../support/local';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoClient, resendable } from '../../lib/adapters/dynamodb';
import { createTransport, Rehearsal, send } from '../../lib/adapters/http';
import { LOCAL_AWS_ENV, startDynamo } from '../../local/dynamodb';
import { createUpstashRequester } from '../../lib/adapters/redis';
import { listen, type RunningServer } from '../../local/http-util';

/** The outbound transport against a real server on loopback. */
describe('Module: lib/adapters/http (integration)', () => {
  let server: RunningServer;
  const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = await listen(
      http.createServer(async (req, res) => {
        let body = '';
        for await (const chunk of req) body += chunk;
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        if (req.url === '/hang') return; // never answers
        if (req.url === '/error') {
          res.writeHead(400, { 'content-type': 'application/json' });
          return res.end('{"error":"ERR wrong number of arguments"}');
        }
        if (req.url === '/html') {
          res.writeHead(502, { 'content-type': 'text/html' });
          return res.end('<html>bad gateway</html>');
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ result: `echo:${body}` }));
      }),
    );
  });
  afterAll(async () => {
    await server?.close();
  });

  describe('Function: send', () => {
    it('sends the method, headers and body, and returns status and body', async () => {
      const result = await send(`${server.url}/x`, { idempotent: true, method: 'POST', headers: { 'x-test': '1' }, body: '登录' });
      expect(result).toEqual({ status: 200, body: JSON.stringify({ result: 'echo:登录' }) });
      expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/x', headers: { 'x-test': '1', 'content-length': '6' } });
    });

    it('sends the path and query exactly as given', async () => {
      await send(`${server.url}/sns/jscode2session?js_code=a%2Bb&secret=x+y`, { idempotent: true, method: 'GET' });
      expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/sns/jscode2session?js_code=a%2Bb&secret=x+y' });
      await send(server.url, { idempotent: true, method: 'GET' });
      expect(seen.at(-1)).toMatchObject({ url: '/' });
    });

    it('refuses a URL that is not http or https', async () => {
      await expect(send('ftp://127.0.0.1/x', { idempotent: true, method: 'GET' })).rejects.toThrow(TypeError);
    });

    it('reuses one keep-alive connection for sequential requests', async () => {
      const before = server.connections();
      for (let i = 0; i < 20; i++) await send(`${server.url}/k`, { idempotent: true, method: 'GET' });
      expect(server.connections() - before).toBeLessThanOrEqual(1);
    });

    it('fails with a TimeoutError when no answer arrives in time', async () => {
      await expect(send(`${server.url}/hang`, { idempotent: true, method: 'GET', timeoutMs: 100 })).rejects.toMatchObject({ name: 'TimeoutError' });
    });

    it('fails with the signal’s reason when aborted', async () => {
      await expect(send(`${server.url}/hang`, { idempotent: true, method: 'GET', signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ name: 'TimeoutError' });
    });

    describe('a kept-alive socket the server reset', () => {
      // A server that answers the first request on each connection, keeps it alive, and
      // resets it when the second request arrives on it: what a stale keep-alive socket looks
      // like to the client, except that here the server did read the request.
      async function resettingServer() {
        let received = 0;
        const running = await listen(
          http.createServer((req, res) => {
            received++;
            const served = ((req.socket as unknown as { served?: number }).served ?? 0) + 1;
            (req.socket as unknown as { served?: number }).served = served;
            if (served > 1) return req.socket.resetAndDestroy();
            req.resume();
            res.writeHead(200, { 'content-type': 'text/plain', connection: 'keep-alive' });
            res.end('ok');
          }),
        );
        return { ...running, received: () => received };
      }

      it('sends an idempotent request again on a fresh connection', async () => {
        const server = await resettingServer();
        try {
          await send(`${server.url}/a`, { method: 'GET', idempotent: true });
          await expect(send(`${server.url}/b`, { method: 'GET', idempotent: true })).resolves.toMatchObject({ status: 200 });
          expect(server.received()).toBe(3);
        } finally {
          await server.close();
        }
      });

      it('never sends a request that is not idempotent twice', async () => {
        const server = await resettingServer();
        try {
          await send(`${server.url}/a`, { method: 'GET', idempotent: false });
          await expect(send(`${server.url}/b`, { method: 'POST', body: 'claim', idempotent: false })).rejects.toMatchObject({ code: 'ECONNRESET' });
          expect(server.received()).toBe(2);
        } finally {
          await server.close();
        }
      });
    });

    it('fails with the system error code when the connection is refused', async () => {
      await expect(send('http://127.0.0.1:9/', { idempotent: true, method: 'GET', timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    });
  });

  describe('Class: Rehearsal (the interceptor of a transport)', () => {
    const recorded = () => ({ status: 200, headers: {}, body: Buffer.from('recorded') });

    it('answers from the recording, sends only a GET /, and leaves that connection for the same transport\'s first real request', async () => {
      const rehearsal = new Rehearsal();
      const transport = createTransport(rehearsal.interceptor);
      const before = { connections: server.connections(), seen: seen.length };
      const answer = await rehearsal.run([recorded], () => transport.send(`${server.url}/write`, { idempotent: false, method: 'POST', body: 'x' }));
      expect(answer).toEqual({ status: 200, body: 'recorded' });
      expect(seen.slice(before.seen).map(({ method, url }) => `${method} ${url}`)).toEqual(['GET /']);
      await transport.send(`${server.url}/after`, { idempotent: true, method: 'GET' });
      expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/after' });
      expect(server.connections() - before.connections).toBe(1);
    });

    it('answers only the clients built over it, and only while it runs', async () => {
      const rehearsal = new Rehearsal();
      const before = seen.length;
      await rehearsal.run([recorded], () => send(`${server.url}/other-client`, { idempotent: true, method: 'GET' }));
      expect(seen.slice(before).map(({ url }) => url)).toEqual(['/other-client']);
    });

    it('fails loudly on a request no recording answers, naming its path and operation but not its query', async () => {
      const rehearsal = new Rehearsal();
      const transport = createTransport(rehearsal.interceptor);
      const notMine = () => undefined;
      await expect(
        rehearsal.run([notMine], () => transport.send(`${server.url}/sns/jscode2session?secret=app-secret`, { idempotent: false, method: 'GET', headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem' } })),
      ).rejects.toThrow(/^the rehearsal has no recorded answer for GET http:\/\/127\.0\.0\.1:\d+\/sns\/jscode2session DynamoDB_20120810\.GetItem$/);
    });

    // A refused connection used to reject with no handler while the rehearsal was still busy,
    // and Node ends a process on an unhandled rejection: a deployed function whose
    // initialisation met a refused or unresolvable origin would crash instead of starting.
    it('survives a connection that fails while the rehearsal is still running', async () => {
      const unhandled: unknown[] = [];
      const collect = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', collect);
      try {
        const rehearsal = new Rehearsal();
        const transport = createTransport(rehearsal.interceptor);
        const result = await rehearsal.run([recorded], async () => {
          await transport.send('http://127.0.0.1:9/x', { idempotent: true, method: 'GET' });
          await new Promise((resolve) => setTimeout(resolve, 200));
          return 'rehearsed';
        });
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(result).toBe('rehearsed');
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', collect);
      }
    });
  });

  describe('Function: createUpstashRequester', () => {
    const requester = (path = '') => createUpstashRequester({ url: `${server.url}${path}`, token: 'secret-token', keyPrefix: 'p:', timeoutMs: 500 });

    it('posts the command as JSON with the Bearer token to the path asked for', async () => {
      await expect(requester().request({ path: ['pipeline'], body: [['GET', 'k']] })).resolves.toEqual({ result: 'echo:[["GET","k"]]' });
      expect(seen.at(-1)).toMatchObject({ url: '/pipeline', headers: { authorization: 'Bearer secret-token', 'content-type': 'application/json' } });
    });

    it('raises Upstash’s error message for an error answer, without the command', async () => {
      const err = (await requester('/error').request({ body: ['SET', 'k', 'session-data'] }).catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({ name: 'UpstashResponseError', message: 'ERR wrong number of arguments' });
      expect(err.message).not.toContain('session-data');
    });

    it('raises on a non-JSON answer', async () => {
      await expect(requester('/html').request({ body: ['GET', 'k'] })).rejects.toMatchObject({ message: 'unparseable answer (HTTP 502)' });
    });

    it('gives up at the timeout', async () => {
      await expect(requester('/hang').request({ body: ['GET', 'k'] })).rejects.toMatchObject({ name: 'TimeoutError' });
    });
  });

  describe('Function: createDynamoClient (the SDK over this transport)', () => {
    // Region and credentials come from the environment, as in Lambda.
    beforeAll(() => {
      Object.assign(process.env, LOCAL_AWS_ENV);
    });

    it('round-trips items with DynamoDB (dynalite)', async () => {
      const dynamo = await startDynamo({ tables: [keyedByOpenid('transport-test')] });
      try {
        const client = createDynamoClient({ endpoint: dynamo.url, timeoutMs: 2000 });
        await client.send(new PutItemCommand({ TableName: 'transport-test', Item: { openid: { S: 'o1' }, name: { S: '登录 ✓' } } }));
        const { Item } = await client.send(new GetItemCommand({ TableName: 'transport-test', Key: { openid: { S: 'o1' } } }));
        expect(Item).toEqual({ openid: { S: 'o1' }, name: { S: '登录 ✓' } });
      } finally {
        await dynamo.close();
      }
    });

    it('sends to DYNAMODB_ENDPOINT or the region\'s endpoint, never to AWS_ENDPOINT_URL* (lib/config.ts is the one place for it)', async () => {
      // Both would win over the region's endpoint in a plain SDK client.
      vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:1');
      vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', 'http://127.0.0.1:2');
      try {
        const urls: string[] = [];
        const rehearsal = new Rehearsal();
        const client = createDynamoClient({ endpoint: undefined, region: 'ap-east-1', timeoutMs: 200 }, createTransport(rehearsal.interceptor));
        // Answered from a recording: nothing is sent (the connection it opens goes nowhere here).
        await rehearsal.run(
          [({ url }) => (urls.push(url), { status: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: Buffer.from('{}') })],
          () => client.send(new GetItemCommand({ TableName: 't', Key: { openid: { S: 'o' } } })),
        );
        expect(urls).toEqual(['https://dynamodb.ap-east-1.amazonaws.com/']);
      } finally {
        vi.unstubAllEnvs();
      }
    });

    /** A server that answers each request as `answer` says, counting them by DynamoDB operation. */
    async function fakeDynamo(answer: (op: string, n: number, req: http.IncomingMessage, res: http.ServerResponse) => void) {
      const received: string[] = [];
      const running = await listen(
        http.createServer((req, res) => {
          const op = String(req.headers['x-amz-target']).split('.')[1]!;
          received.push(op);
          req.resume();
          answer(op, received.length, req, res);
        }),
      );
      return { ...running, received };
    }
    const ok = (res: http.ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', connection: 'keep-alive' });
      res.end('{}');
    };
    const put = () => new PutItemCommand({ TableName: 't', Item: { openid: { S: 'o' } } });

    describe('a reset kept-alive socket', () => {
      // The first request on each connection is answered; a second on the same one is reset.
      const resetting = () =>
        fakeDynamo((_op, _n, req, res) => {
          const socket = req.socket as unknown as { served?: number };
          socket.served = (socket.served ?? 0) + 1;
          if (socket.served > 1) return req.socket.resetAndDestroy();
          ok(res);
        });

      it('sends a read again at once', async () => {
        const server = await resetting();
        try {
          const client = createDynamoClient({ endpoint: server.url, timeoutMs: 2000 });
          await client.send(new GetItemCommand({ TableName: 't', Key: { openid: { S: 'o' } } }));
          await expect(client.send(new GetItemCommand({ TableName: 't', Key: { openid: { S: 'o' } } }))).resolves.toBeDefined();
          expect(server.received).toEqual(['GetItem', 'GetItem', 'GetItem']);
        } finally {
          await server.close();
        }
      });

      it('sends a write marked safe again at once', async () => {
        const server = await resetting();
        try {
          const client = createDynamoClient({ endpoint: server.url, timeoutMs: 2000 });
          await client.send(new GetItemCommand({ TableName: 't', Key: { openid: { S: 'o' } } }));
          await expect(client.send(resendable(put(), 'idempotent'))).resolves.toBeDefined();
          expect(server.received).toEqual(['GetItem', 'PutItem', 'PutItem']);
        } finally {
          await server.close();
        }
      });

      it('never sends a write not marked safe twice, neither at once nor as the SDK\'s retry', async () => {
        const server = await resetting();
        try {
          const client = createDynamoClient({ endpoint: server.url, timeoutMs: 2000 });
          await client.send(new GetItemCommand({ TableName: 't', Key: { openid: { S: 'o' } } }));
          await expect(client.send(put())).rejects.toMatchObject({ code: 'ECONNRESET' });
          expect(server.received).toEqual(['GetItem', 'PutItem']);
        } finally {
          await server.close();
        }
      });
    });

    it('sends a write not marked safe again after a throttling answer: DynamoDB applied nothing', async () => {
      const server = await fakeDynamo((_op, n, _req, res) => {
        if (n > 1) return ok(res);
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'slow down' }));
      });
      try {
        const client = createDynamoClient({ endpoint: server.url, timeoutMs: 2000 });
        await expect(client.send(put())).resolves.toBeDefined();
        expect(server.received).toEqual(['PutItem', 'PutItem']);
      } finally {
        await server.close();
      }
    });

    it('sends a write not marked safe once after a 500: it may have been applied', async () => {
      const server = await fakeDynamo((_op, _n, _req, res) => {
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'oops' }));
      });
      try {
        const client = createDynamoClient({ endpoint: server.url, timeoutMs: 2000 });
        await expect(client.send(put())).rejects.toMatchObject({ name: 'InternalServerError' });
        await expect(client.send(resendable(put(), 'idempotent'))).rejects.toMatchObject({ name: 'InternalServerError' });
        expect(server.received).toEqual(['PutItem', 'PutItem', 'PutItem']);
      } finally {
        await server.close();
      }
    });

    it('gives up on a hanging endpoint after its timeout and one retry', async () => {
      let received = 0;
      const silent = await listen(
        http.createServer((req) => {
          received++;
          req.resume(); // and never answer
        }),
      );
      try {
        const client = createDynamoClient({ endpoint: silent.url, timeoutMs: 200 });
        await expect(client.send(new GetItemCommand({ TableName: 'ttt', Key: { openid: { S: 'o' } } }))).rejects.toMatchObject({ name: 'TimeoutError' });
        expect(received).toBe(2);
      } finally {
        await silent.close();
      }
    });
  });
});
