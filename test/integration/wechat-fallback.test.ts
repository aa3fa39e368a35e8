import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTransport } from '../../lib/adapters/http';
import { createWechatApi } from '../../lib/adapters/wechat-access-token';
import { HttpWechatAuth } from '../../lib/adapters/wechat-login';
import { createWechatPhone } from '../../lib/adapters/wechat-phone';
import { loadWechatConfig } from '../../lib/config';
import { startWechatStub, type RunningWechatStub } from '../../local/wechat-stub';

/**
 * WeChat by its chosen domain, with a fallback (docs/deploy.md, "WeChat's API domains"): the
 * stub is the fallback; the primary is an address that refuses, a name an injected DNS lookup
 * cannot resolve (not CI's DNS), a port that speaks no TLS, or one that takes the request and
 * drops it. Only what never left goes to the fallback.
 */
describe('WeChat through a fallback domain (integration)', () => {
  const appId = 'wx0000000000fallbk';
  const appSecret = 'fallback-secret';
  let stub: RunningWechatStub;
  let refusing: string;
  let plainForTls: http.Server;
  let dropping: http.Server;
  let dropped = 0;

  beforeAll(async () => {
    stub = await startWechatStub({ appId, appSecret });
    // A port nothing listens on: connections are refused.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    refusing = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    // A plain-HTTP server addressed as https: the TLS handshake fails before anything is sent.
    plainForTls = http.createServer((_req, res) => res.end('not tls'));
    await new Promise<void>((resolve) => plainForTls.listen(0, '127.0.0.1', resolve));
    // One that reads the request, then drops the connection: the request may have reached WeChat.
    dropping = http.createServer((req) => {
      dropped++;
      req.resume();
      req.on('end', () => req.socket.destroy());
    });
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await stub?.close();
    await new Promise((resolve) => plainForTls?.close(resolve));
    await new Promise((resolve) => dropping?.close(resolve));
  });

  const auth = (apiBase: string, transport = createTransport()) =>
    new HttpWechatAuth({ appId, appSecret, apiBase, fallbackBase: stub.url, timeoutMs: 2000, deadlineMs: 4000, transport });
  /** A lookup that cannot resolve wechat-primary.invalid and resolves everything else as the system does. */
  const unresolvable = createTransport(undefined, {
    lookup: ((hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
      if (hostname === 'wechat-primary.invalid') return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
      dnsLookup(hostname, options, callback as never);
    }) as never,
  });

  it('sends the exchange to the fallback when the primary refuses the connection, its name does not resolve, or its TLS handshake fails', async () => {
    const primaries: [string, ReturnType<typeof createTransport>][] = [
      [refusing, createTransport()],
      ['http://wechat-primary.invalid:9', unresolvable],
      [`https://127.0.0.1:${(plainForTls.address() as AddressInfo).port}`, createTransport()],
    ];
    for (const [i, [primary, transport]] of primaries.entries()) {
      const before = stub.stats.calls;
      const session = await auth(primary, transport).code2Session(`amy${i}.1`);
      expect(session.openid, primary).toMatch(/^o/);
      expect(stub.stats.calls - before, `${primary}: exchanged once, at the fallback`).toBe(1);
    }
  });

  it('tries the fallback when the primary does not connect within its connect budget (half the time limit, 1 s at most), the whole within the time limit', async () => {
    const hangs = createTransport(undefined, {
      lookup: ((hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
        if (hostname === 'wechat-hangs.invalid') return; // a lookup that never answers, as a dropped packet looks
        dnsLookup(hostname, options, callback as never);
      }) as never,
    });
    // Answered at all means in time: past its 2 s limit the exchange would have failed.
    const before = stub.stats.calls;
    await expect(auth('http://wechat-hangs.invalid:9', hangs).code2Session('cat.1')).resolves.toMatchObject({ openid: expect.stringMatching(/^o/) });
    expect(stub.stats.calls - before).toBe(1);
  });

  it('never sends again, to either domain, an exchange that may have reached WeChat: the code is used up', async () => {
    const before = stub.stats.calls;
    await expect(auth(`http://127.0.0.1:${(dropping.address() as AddressInfo).port}`).code2Session('ben.1')).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE' });
    expect(dropped).toBe(1);
    expect(stub.stats.calls - before, 'nothing reached the fallback').toBe(0);
  });

  it('does the same for the server APIs that take the access token (getuserphonenumber through a refused primary)', async () => {
    const cache = { get: async () => null, set: async () => {}, drop: async () => {} };
    const api = createWechatApi({ appId, appSecret, apiBase: refusing, fallbackBase: stub.url, timeoutMs: 2000, deadlineMs: 4000, cache });
    const phone = createWechatPhone(api, { appId });
    await expect(phone.getPhoneNumber('13800138000.fallback', 'o-anyone')).resolves.toMatchObject({ purePhoneNumber: '13800138000' });
    expect(stub.phoneCodeConsumed('13800138000.fallback')).toBe(true);
  });

  it('takes api2.weixin.qq.com as the fallback of WeChat’s own domains, none for another base unless set, and none with WECHAT_API_FALLBACK=none', () => {
    const config = (env: Record<string, string>) => loadWechatConfig({ WECHAT_APPID: appId, WECHAT_SECRET: appSecret, ...env });
    expect(config({}).fallbackBase).toBe('https://api2.weixin.qq.com');
    expect(config({ WECHAT_API_BASE: 'https://sh.api.weixin.qq.com' }).fallbackBase).toBe('https://api2.weixin.qq.com');
    expect(config({ WECHAT_API_BASE: 'https://api2.weixin.qq.com' }).fallbackBase).toBe('https://api.weixin.qq.com');
    expect(config({ WECHAT_API_BASE: 'http://127.0.0.1:3001' }).fallbackBase).toBeUndefined();
    expect(config({ WECHAT_API_BASE: 'http://127.0.0.1:3001', WECHAT_API_FALLBACK: 'http://127.0.0.1:3002' }).fallbackBase).toBe('http://127.0.0.1:3002');
    expect(config({ WECHAT_API_FALLBACK: 'none' }).fallbackBase).toBeUndefined();
  });
});
