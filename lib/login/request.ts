import { isIPv4, isIPv6 } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AppError } from '../errors';
import { headerValue, onlyKeys, readJsonObject } from '../http/body';
import { PROOF_PATTERN } from './service';

/** A wx.login() code as we accept it: 1–128 URL-safe characters, nothing that could bend a query string. */
export const CODE_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;
/** An AppID as we accept it (WeChat's are `wx` and 16 hex digits): checked against the configured apps after. */
export const APPID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** `{"code": "<128 chars>", "appid": "<18 chars>"}` is ~170 bytes; 1 KiB leaves room for whitespace. */
export const MAX_BODY_BYTES = 1024;

export interface LoginRequest {
  code: string;
  /** The mini-program the code comes from (the kit's wx.getAccountInfoSync().miniProgram.appId); optional. */
  appid?: string;
  /** X-Login-Proof: binds a replay of this code's result to this client. */
  proof?: string;
}

/**
 * Validates `{"code": "..."}` (and nothing else: an unknown key is named in the 400) and the optional `X-Login-Proof` header at the edge, before
 * anything is called. Checked by hand: a schema library would add to every cold start of the
 * login bundle for a regex.
 */
export function parseLoginRequest(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>): LoginRequest {
  const body = readJsonObject(event, { maxBytes: MAX_BODY_BYTES });
  onlyKeys(body, ['code', 'appid'], '{"code": "...", "appid": "..."}');
  const { code, appid } = body;
  if (code === undefined) throw new AppError('INVALID_REQUEST', '"code" is required.');
  if (typeof code !== 'string') throw new AppError('INVALID_REQUEST', '"code" must be a string.');
  if (!CODE_PATTERN.test(code)) {
    throw new AppError('INVALID_REQUEST', '"code" must be 1–128 characters from A–Z, a–z, 0–9 and . _ ~ -');
  }
  if (appid !== undefined && (typeof appid !== 'string' || !APPID_PATTERN.test(appid))) {
    throw new AppError('INVALID_REQUEST', '"appid" must be the mini-program\'s AppID: 1–64 characters from A–Z, a–z, 0–9, - and _.');
  }
  const proof = headerValue(event.headers, 'x-login-proof');
  if (proof !== undefined && !PROOF_PATTERN.test(proof)) {
    throw new AppError('INVALID_REQUEST', 'X-Login-Proof must be 22–64 characters from A–Z, a–z, 0–9, - and _.');
  }
  return { code, ...(appid !== undefined ? { appid } : {}), ...(proof !== undefined ? { proof } : {}) };
}

/**
 * The network a client is counted and recognised by: an IPv4 address as is, an IPv6 address
 * by its /64 (one subscriber's prefix: a phone changes the lower 64 bits at will), an
 * IPv4-mapped IPv6 address as its IPv4 address; 'unknown' when there is none.
 */
export function clientNetwork(sourceIp: string | undefined): string {
  const ip = sourceIp?.trim() ?? '';
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail (e.g. 64:ff9b::192.0.2.1) takes two groups; the /64 never reaches it.
  const width = right.length > 0 && right[right.length - 1]!.includes('.') ? right.length + 1 : right.length;
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - width).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * The network as the user's list of sessions and the login log show it: an IPv4 /24 or an
 * IPv6 /48 (from `clientNetwork`'s answer), never the full address; 'unknown' when there is none.
 */
export function maskedNetwork(network: string): string {
  const v4 = /^(\d+\.\d+\.\d+)\.\d+$/.exec(network);
  if (v4) return `${v4[1]}.0/24`;
  const v6 = /^([0-9a-f]+:[0-9a-f]+:[0-9a-f]+):[0-9a-f]+::\/64$/.exec(network);
  if (v6) return `${v6[1]}::/48`;
  return 'unknown';
}

/**
 * A short, printable summary of a User-Agent header for the user's list of sessions: the
 * system and the WeChat version where it can tell them (a mini-program's requests carry
 * WeChat's), else the header's first 64 printable characters; none without a header.
 */
export function agentSummary(userAgent: string | undefined): string | undefined {
  const text = (userAgent ?? '').replace(/[^\x20-\x7e]/g, '').trim();
  if (!text) return undefined;
  const ios = /(?:iPhone|CPU) OS (\d+)[_.](\d+)/.exec(text);
  const android = /Android (\d+(?:\.\d+)?)/.exec(text);
  const system = /iPad/.test(text)
    ? `iPadOS${ios ? ` ${ios[1]}.${ios[2]}` : ''}`
    : ios
      ? `iOS ${ios[1]}.${ios[2]}`
      : android
        ? `Android ${android[1]}`
        : /HarmonyOS|OpenHarmony/.test(text)
          ? 'HarmonyOS'
          : /Windows NT/.test(text)
            ? 'Windows'
            : /Mac OS X/.test(text)
              ? 'macOS'
              : /Linux/.test(text)
                ? 'Linux'
                : undefined;
  const wechat = /MicroMessenger\/(\d+(?:\.\d+){0,2})/.exec(text);
  const client = /wechatdevtools/i.test(text) ? 'WeChat DevTools' : wechat ? `WeChat ${wechat[1]}` : undefined;
  const parts = [system, client].filter((p): p is string => p !== undefined);
  return parts.length > 0 ? parts.join(', ') : text.slice(0, 64);
}
