import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HOST, lanNotice, lanUrls } from '../../local/dev-host';
import { offlineArgs } from '../../local/serverless-cli';

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({ address, family, internal }) as NetworkInterfaceInfo;
const interfaces = {
  lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)],
  wlan0: [iface('192.168.1.23', 'IPv4'), iface('fe80::1', 'IPv6')],
  eth0: [iface('10.0.0.5', 'IPv4')],
  tun0: [iface('203.0.113.7', 'IPv4')],
};

describe('npm run dev: HOST (local/dev-host.ts)', () => {
  it('listens on this machine only by default', async () => {
    expect(DEFAULT_HOST).toBe('127.0.0.1');
    const args = await offlineArgs(3000);
    expect(args[args.indexOf('--host') + 1]).toBe('127.0.0.1');
  });

  it('hands HOST to serverless offline', async () => {
    const args = await offlineArgs(3000, '0.0.0.0');
    expect(args[args.indexOf('--host') + 1]).toBe('0.0.0.0');
    expect(args[args.indexOf('--httpPort') + 1]).toBe('3000');
  });

  it('names each IPv4 network address for HOST=0.0.0.0, never a loopback one', () => {
    expect(lanUrls('0.0.0.0', 3000, interfaces)).toEqual(['http://192.168.1.23:3000', 'http://10.0.0.5:3000', 'http://203.0.113.7:3000']);
    expect(lanUrls('::', 3000, interfaces)).toHaveLength(3);
  });

  it('names the address itself for a HOST of one interface, and nothing for loopback', () => {
    expect(lanUrls('192.168.1.23', 4000, interfaces)).toEqual(['http://192.168.1.23:4000']);
    expect(lanUrls('fd00::2', 4000, interfaces)).toEqual(['http://[fd00::2]:4000']);
    expect(lanUrls('127.0.0.1', 4000, interfaces)).toEqual([]);
    expect(lanUrls('localhost', 4000, interfaces)).toEqual([]);
  });

  it('prints nothing extra on loopback; on the network, the URLs, what the kit refuses, and that anyone there can call it', () => {
    expect(lanNotice('127.0.0.1', 3000, interfaces)).toBe('');
    const notice = lanNotice('0.0.0.0', 3000, interfaces);
    expect(notice).toContain('anyone on this network can call the API');
    expect(notice).toContain('不校验合法域名');
    expect(notice).toMatch(/baseUrl http:\/\/192\.168\.1\.23:3000\n/);
    expect(notice).toMatch(/baseUrl http:\/\/10\.0\.0\.5:3000\n/);
    expect(notice).toMatch(/baseUrl http:\/\/203\.0\.113\.7:3000 +\(not a private-network address: the client kit refuses http:\/\/ to it\)/);
    expect(lanNotice('0.0.0.0', 3000, { lo: interfaces.lo })).toContain('no IPv4 network address found');
  });
});
