import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * WeChat's message push (消息推送) as a protocol: signatures, the AES scheme of 安全模式 and the
 * JSON messages. No I/O; `lib/push/` does the HTTP and the Redis around it.
 *
 * - The URL check (GET) and every push in 明文模式 carry `signature` = sha1 of the Token,
 *   `timestamp` and `nonce`, sorted as strings (字典序) and concatenated.
 * - In 安全模式 the body is `{"ToUserName", "Encrypt"}` and the URL carries `encrypt_type=aes`
 *   and `msg_signature` = the same sha1 over the Token, timestamp, nonce *and* Encrypt. WeChat's
 *   page says to check msg_signature, not signature ("不要使用signature验证").
 * - Encrypt = base64(AES-256-CBC(FullStr)) with key = base64decode(EncodingAESKey + "="), the IV
 *   the key's first 16 bytes, PKCS#7 padding to a multiple of 32 bytes (not AES's 16), and
 *   FullStr = 16 random bytes + the message's length (4 bytes, big-endian) + message + AppID.
 */

/** What WeChat's console accepts as a Token: 3–32 letters or digits. */
export const PUSH_TOKEN_PATTERN = /^[A-Za-z0-9]{3,32}$/;
/** An EncodingAESKey: 43 base64 characters, which decode (with "=" added) to the 32-byte AES key. */
export const ENCODING_AES_KEY_PATTERN = /^[A-Za-z0-9+/]{43}$/;

const BLOCK = 32;
const RANDOM_BYTES = 16;
const LENGTH_BYTES = 4;
const SHA1_HEX = /^[0-9a-f]{40}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function sha1Sorted(parts: string[]): Buffer {
  // 字典序: WeChat's samples sort byte-wise (PHP's SORT_STRING, Java's String order); every
  // part here is ASCII (digits, hex, base64, the Token's letters and digits), where
  // JavaScript's default sort is the same order.
  return createHash('sha1').update([...parts].sort().join(''), 'utf8').digest();
}

/** Constant time in the digest: a 40-hex-digit string compared byte by byte, never short-circuited. */
function sameDigest(expected: Buffer, given: string | undefined): boolean {
  if (given === undefined || !SHA1_HEX.test(given)) return false;
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

/** `signature` of the URL check and of 明文模式: sha1 over the sorted Token, timestamp and nonce, hex. */
export function urlSignature(token: string, timestamp: string, nonce: string): string {
  return sha1Sorted([token, timestamp, nonce]).toString('hex');
}

export function verifySignature(token: string, timestamp: string, nonce: string, signature: string | undefined): boolean {
  return sameDigest(sha1Sorted([token, timestamp, nonce]), signature);
}

/** `msg_signature` of 安全模式: sha1 over the sorted Token, timestamp, nonce and the body's Encrypt, hex. */
export function msgSignature(token: string, timestamp: string, nonce: string, encrypt: string): string {
  return sha1Sorted([token, timestamp, nonce, encrypt]).toString('hex');
}

export function verifyMsgSignature(token: string, timestamp: string, nonce: string, encrypt: string, signature: string | undefined): boolean {
  return sameDigest(sha1Sorted([token, timestamp, nonce, encrypt]), signature);
}

/** Why a ciphertext was refused. None of them says anything about the key or the plaintext. */
export type DecryptFailure = 'format' | 'padding' | 'length' | 'appid';

export class PushDecryptError extends Error {
  override readonly name = 'PushDecryptError';
  constructor(readonly reason: DecryptFailure) {
    super(`push message refused: ${reason}`);
  }
}

/** The AES key of an EncodingAESKey. Throws on anything but 43 base64 characters. */
export function aesKeyOf(encodingAesKey: string): Buffer {
  if (!ENCODING_AES_KEY_PATTERN.test(encodingAesKey)) throw new Error('an EncodingAESKey is 43 base64 characters');
  return Buffer.from(`${encodingAesKey}=`, 'base64');
}

/**
 * Opens a 安全模式 `Encrypt` and returns the message. Throws PushDecryptError when the text is
 * not base64 of whole 32-byte blocks, the PKCS#7 padding is not 1–32 bytes of its own length,
 * the length field points past the end, or what follows the message is not exactly `appId`.
 */
export function decrypt(encodingAesKey: string, appId: string, encrypt: string): string {
  const key = aesKeyOf(encodingAesKey);
  if (!BASE64.test(encrypt)) throw new PushDecryptError('format');
  const ciphertext = Buffer.from(encrypt, 'base64');
  if (ciphertext.length === 0 || ciphertext.length % BLOCK !== 0) throw new PushDecryptError('format');

  const decipher = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16));
  // WeChat pads to 32-byte blocks; OpenSSL's own padding check knows only AES's 16.
  decipher.setAutoPadding(false);
  const full = Buffer.concat([decipher.update(ciphertext), decipher.final()]);

  const pad = full[full.length - 1]!;
  if (pad < 1 || pad > BLOCK) throw new PushDecryptError('padding');
  for (let i = full.length - pad; i < full.length; i++) if (full[i] !== pad) throw new PushDecryptError('padding');
  const content = full.subarray(0, full.length - pad);

  if (content.length < RANDOM_BYTES + LENGTH_BYTES) throw new PushDecryptError('length');
  const length = content.readUInt32BE(RANDOM_BYTES);
  const start = RANDOM_BYTES + LENGTH_BYTES;
  if (length > content.length - start) throw new PushDecryptError('length');
  // The AppID is WeChat's own check that the message is meant for this mini-program: a push of
  // another one that shares the Token and key decrypts, and only this tells them apart.
  if (!content.subarray(start + length).equals(Buffer.from(appId, 'utf8'))) throw new PushDecryptError('appid');
  return content.subarray(start, start + length).toString('utf8');
}

/**
 * Seals `message` as WeChat does (what the local helper and the tests send). `random` is the
 * 16 leading bytes, fresh unless given (WeChat's worked example fixes them).
 */
export function encrypt(encodingAesKey: string, appId: string, message: string, random: Buffer = randomBytes(RANDOM_BYTES)): string {
  if (random.length !== RANDOM_BYTES) throw new Error('the random prefix is 16 bytes');
  const key = aesKeyOf(encodingAesKey);
  const body = Buffer.from(message, 'utf8');
  const length = Buffer.alloc(LENGTH_BYTES);
  length.writeUInt32BE(body.length);
  const unpadded = Buffer.concat([random, length, body, Buffer.from(appId, 'utf8')]);
  const pad = BLOCK - (unpadded.length % BLOCK);
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([unpadded, Buffer.alloc(pad, pad)])), cipher.final()]).toString('base64');
}

/** A pushed message as this service reads it: what it uses, typed; everything else ignored. */
export interface PushMessage {
  /** `event` for events; `text`, `image`, … for customer-service messages. */
  msgType: string;
  /** The event's name (`Event`), for `MsgType` event. */
  event: string | undefined;
  /** `CreateTime`, seconds. */
  createTime: number;
  /** `MsgId`, which messages (not events) carry. */
  msgId: string | undefined;
  /** `AppID`: the mini-program the event is about (the authorization events carry it). */
  appId: string | undefined;
  /** `OpenID`: the user. Not `FromUserName`, which for these events is the push service (平台推送服务UserName). */
  openid: string | undefined;
  /** `RevokeInfo`: what the user withdrew, as WeChat sends it (a string of an enum value). */
  revokeInfo: string | undefined;
}

/** A pushed body that is not a message this service can read. The reason is ours, never the body. */
export class PushFormatError extends Error {
  override readonly name = 'PushFormatError';
}

/**
 * Reads the JSON of a pushed message. Unknown fields are ignored, because WeChat adds fields
 * and refusing them would make WeChat retry and then drop the event; only `MsgType` and
 * `CreateTime` are required here, and the fields each event needs are checked where it is
 * handled. `CreateTime` and `RevokeInfo` are taken as a number or a string of digits:
 * WeChat's pages say number and string, and its JSON has been seen to send either.
 */
export function parsePushMessage(json: string): PushMessage {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new PushFormatError(json.trimStart().startsWith('<') ? XML_REFUSED : 'the body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new PushFormatError('the body is not a JSON object');
  const body = value as Record<string, unknown>;
  const msgType = text(body.MsgType);
  if (!msgType) throw new PushFormatError('MsgType is missing');
  const createTime = typeof body.CreateTime === 'string' && /^\d{1,12}$/.test(body.CreateTime) ? Number(body.CreateTime) : body.CreateTime;
  if (typeof createTime !== 'number' || !Number.isSafeInteger(createTime) || createTime < 0) throw new PushFormatError('CreateTime is missing or not a time');
  return {
    msgType,
    event: text(body.Event),
    createTime,
    msgId: text(body.MsgId) ?? (typeof body.MsgId === 'number' ? String(body.MsgId) : undefined),
    appId: text(body.AppID),
    openid: text(body.OpenID),
    revokeInfo: text(body.RevokeInfo) ?? (typeof body.RevokeInfo === 'number' ? String(body.RevokeInfo) : undefined),
  };
}

/** The value of a 安全模式 body's `Encrypt`, or undefined when it has none. */
export function encryptedPart(json: string): string | undefined {
  try {
    const value: unknown = JSON.parse(json);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    return text((value as Record<string, unknown>).Encrypt);
  } catch {
    return undefined;
  }
}

/**
 * A decrypted message in XML, as a 公众号's pushes are (its console offers XML only) and an
 * App's may be: the same fields as parsePushMessage reads. A flat `<xml>` of elements holding
 * CDATA or plain text, read by pattern, not by an XML parser: a DOCTYPE, an entity declaration
 * or any entity but the five predefined ones and character references is refused, so nothing
 * in the body is expanded or resolved, whatever it says.
 */
export function parsePushXml(xml: string): PushMessage {
  if (/<!DOCTYPE|<!ENTITY|<!\[(?!CDATA\[)/i.test(xml)) throw new PushFormatError('the XML has a DOCTYPE or an entity declaration');
  const root = /^\s*(?:<\?xml[^>]*\?>\s*)?<xml>([\s\S]*)<\/xml>\s*$/.exec(xml);
  if (!root) throw new PushFormatError('the body is neither JSON nor a WeChat XML message');
  const fields: Record<string, string> = {};
  const element = /<([A-Za-z][A-Za-z0-9_]*)>(?:<!\[CDATA\[([\s\S]*?)\]\]>|([^<]*))<\/\1>/g;
  let rest = root[1]!;
  for (let match = element.exec(rest); match; match = element.exec(rest)) {
    fields[match[1]!] = match[2] ?? decodeXmlText(match[3]!);
  }
  rest = rest.replace(element, '');
  if (rest.trim() !== '') throw new PushFormatError('the XML is not a flat WeChat message');
  const createTime = /^\d{1,12}$/.test(fields.CreateTime ?? '') ? Number(fields.CreateTime) : NaN;
  if (!text(fields.MsgType)) throw new PushFormatError('MsgType is missing');
  if (!Number.isSafeInteger(createTime)) throw new PushFormatError('CreateTime is missing or not a time');
  return {
    msgType: text(fields.MsgType)!,
    event: text(fields.Event),
    createTime,
    msgId: text(fields.MsgId),
    appId: text(fields.AppID),
    openid: text(fields.OpenID),
    revokeInfo: text(fields.RevokeInfo),
  };
}

/** XML text: the five predefined entities and character references; any other entity is refused. */
function decodeXmlText(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);|&/gi, (all, name: string | undefined) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (name === undefined) throw new PushFormatError('the XML has a bare &');
    if (name.startsWith('#')) {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1));
      if (!(code >= 0 && code <= 0x10ffff)) throw new PushFormatError(`the XML has no such character as ${all}`);
      return String.fromCodePoint(code);
    }
    const known = named[name];
    if (known === undefined) throw new PushFormatError(`the XML uses the entity ${all}`);
    return known;
  });
}

/** Shown in the log when a signed push came in XML: the operator's fix, in the console's words. */
export const XML_REFUSED = 'the body is XML: set 数据格式 to JSON in the console';

/**
 * The `Encrypt` of a 安全模式 body sent as XML (the console's 数据格式 left at XML), or
 * undefined. Only so that a push WeChat signed can be told from a forgery: such a body is
 * refused, never read. A pattern over base64 inside CDATA, not an XML parser: nothing in the
 * body is expanded or resolved.
 */
export function encryptedPartOfXml(body: string): string | undefined {
  if (body.length > 64 * 1024) return undefined;
  // An XML declaration may come first: it changes nothing.
  return /^\s*(?:<\?xml[^>]*\?>\s*)?<xml>[\s\S]*?<Encrypt>\s*(?:<!\[CDATA\[([A-Za-z0-9+/=]+)\]\]>|([A-Za-z0-9+/=]+))\s*<\/Encrypt>/.exec(body)?.slice(1).find(Boolean);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
