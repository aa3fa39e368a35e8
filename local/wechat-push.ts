import { randomInt } from 'node:crypto';
import { encrypt, msgSignature, urlSignature } from '../lib/push/wechat-message';

/**
 * What WeChat's message push sends, built and signed here, for the tests and for `npm run push`:
 * the URL check (GET) and pushes (POST, JSON) in 安全模式, or in 明文模式 for the tests that
 * show /wechat/events refusing it.
 */

/** The console's push settings, as the function is configured with them. */
export interface PushSettings {
  token: string;
  /** Needed for 安全模式, i.e. unless `plaintext`. */
  encodingAesKey?: string;
  appId: string;
}

export interface SignOptions {
  /**
   * 明文模式: the JSON in clear, signed by `signature` alone, which /wechat/events refuses.
   * Otherwise 安全模式 (`encrypt_type=aes`, the body encrypted), the only mode it accepts.
   */
  plaintext?: boolean;
  /** 安全模式 with the console's 数据格式 left at XML: the envelope is XML (which /wechat/events refuses with a hint). */
  xml?: boolean;
  /** Seconds; now by default. */
  timestamp?: number;
  nonce?: string;
}

/** A request as WeChat sends it: its query parameters and, for a POST, its body. */
export interface SignedRequest {
  query: Record<string, string>;
  body?: string;
}

export type AuthorizationEvent = 'user_authorization_revoke' | 'user_authorization_cancellation' | 'user_info_modified';

/**
 * An authorization event (授权用户信息变更) as WeChat's JSON has it: FromUserName is the push
 * service, OpenID the user; RevokeInfo only for a revoke (e.g. "8", 手机号).
 */
export function authorizationEvent(
  event: AuthorizationEvent,
  openid: string,
  appId: string,
  options: { revokeInfo?: string; createTime?: number; extra?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    ToUserName: 'gh_0000000local',
    FromUserName: 'o_push_service_local',
    CreateTime: options.createTime ?? Math.floor(Date.now() / 1000),
    MsgType: 'event',
    Event: event,
    OpenID: openid,
    AppID: appId,
    ...(event === 'user_authorization_revoke' ? { RevokeInfo: options.revokeInfo ?? '8' } : {}),
    ...options.extra,
  };
}

function freshNonce(): string {
  return String(randomInt(1, 2 ** 31 - 1));
}

/** The URL check WeChat makes when the console's 提交 is pressed. */
export function urlCheck(settings: Pick<PushSettings, 'token'>, options: { echostr?: string } & Omit<SignOptions, 'plaintext'> = {}): SignedRequest {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? freshNonce();
  const echostr = options.echostr ?? String(randomInt(1, 2 ** 47));
  return { query: { signature: urlSignature(settings.token, timestamp, nonce), echostr, timestamp, nonce } };
}

/**
 * A push of `message` as WeChat sends it. 安全模式 (the default): the body
 * `{"ToUserName", "Encrypt"}`, and `encrypt_type=aes` with `msg_signature` over the Token,
 * timestamp, nonce and Encrypt (WeChat also sends `signature` and `openid` then, which a
 * receiver must not rely on). 明文模式 (`plaintext`): the JSON as the body and `signature` over
 * the Token, timestamp and nonce only, the same `signature` as the 安全模式 URL's.
 */
export function signPush(settings: PushSettings, message: Record<string, unknown> | string, options: SignOptions = {}): SignedRequest {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = options.nonce ?? freshNonce();
  const json = typeof message === 'string' ? message : JSON.stringify(message);
  const signature = urlSignature(settings.token, timestamp, nonce);
  if (options.plaintext) return { query: { signature, timestamp, nonce }, body: json };

  if (!settings.encodingAesKey) throw new Error('安全模式 needs the EncodingAESKey');
  // 数据格式 XML seals the message as XML too (a 公众号's only format).
  const sealed = encrypt(settings.encodingAesKey, settings.appId, options.xml && typeof message === 'object' ? xmlOf(message) : json);
  const toUserName = typeof message === 'object' && typeof message.ToUserName === 'string' ? message.ToUserName : 'gh_0000000local';
  const openid: Record<string, string> = typeof message === 'object' && typeof message.OpenID === 'string' ? { openid: message.OpenID } : {};
  // 数据格式 XML (the console's default): the same fields in an <xml> envelope.
  const body = options.xml
    ? `<xml><ToUserName><![CDATA[${toUserName}]]></ToUserName><Encrypt><![CDATA[${sealed}]]></Encrypt></xml>`
    : JSON.stringify({ ToUserName: toUserName, Encrypt: sealed });
  return {
    query: { signature, timestamp, nonce, ...openid, encrypt_type: 'aes', msg_signature: msgSignature(settings.token, timestamp, nonce, sealed) },
    body,
  };
}

/** A message as WeChat's XML carries it: each field an element, text in CDATA, numbers bare. */
export function xmlOf(message: Record<string, unknown>): string {
  const fields = Object.entries(message).map(([name, value]) => `<${name}>${typeof value === 'number' ? value : `<![CDATA[${String(value)}]]>`}</${name}>`);
  return `<xml>${fields.join('')}</xml>`;
}

/** Sends a signed request to `url` (GET without a body, POST with one), as WeChat would. */
export async function sendPush(url: string, request: SignedRequest): Promise<{ status: number; contentType: string | null; body: string }> {
  const target = new URL(url);
  for (const [name, value] of Object.entries(request.query)) target.searchParams.set(name, value);
  const response = await fetch(target, {
    method: request.body === undefined ? 'GET' : 'POST',
    ...(request.body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: request.body }),
  });
  return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
}
