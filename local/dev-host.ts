import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/** Where `npm run dev` listens unless HOST says otherwise: this machine only. */
export const DEFAULT_HOST = '127.0.0.1';

const ALL_INTERFACES = new Set(['0.0.0.0', '::']);
const LOOPBACK = /^(127\.|localhost$|::1$)/;

/**
 * The URLs another device on the network (a phone in 真机调试) can reach `npm run dev` at when
 * it listens on `host`: each of this machine's IPv4 network addresses for all interfaces
 * (HOST=0.0.0.0), the address itself for one of them, none for loopback.
 */
export function lanUrls(host: string, port: number, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  if (LOOPBACK.test(host)) return [];
  if (!ALL_INTERFACES.has(host)) return [`http://${host.includes(':') ? `[${host}]` : host}:${port}`];
  return Object.values(interfaces)
    .flatMap((addresses) => addresses ?? [])
    .filter((address) => address.family === 'IPv4' && !address.internal)
    .map((address) => `http://${address.address}:${port}`);
}

/** The client kit's rule for plain http (client/wechat-auth.js isPrivateHost), for IPv4. */
const PRIVATE_IPV4 = /^(127\.|10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.|169\.254\.)/;

/** The lines `npm run dev` prints about reaching it from another device, if it can be. */
export function lanNotice(host: string, port: number, interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>): string {
  if (LOOPBACK.test(host)) return '';
  const urls = lanUrls(host, port, interfaces);
  return [
    '',
    `  Listening on ${host}: anyone on this network can call the API (and log in as anyone: the WeChat stub takes any code), and serverless offline's Lambda invoke port (any function, as any user, no token).`,
    '  From a phone on the same network (真机调试 with 不校验合法域名 ticked; docs/client.md, Testing on a real phone):',
    ...(urls.length
      ? urls.map((url) => `    baseUrl ${url}${PRIVATE_IPV4.test(new URL(url).hostname) ? '' : '   (not a private-network address: the client kit refuses http:// to it)'}`)
      : ['    (no IPv4 network address found on this machine)']),
    '',
  ].join('\n');
}
