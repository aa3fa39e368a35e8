import type { AccountEvents, Revoked } from '../account/ports';
import type { AppKind } from '../apps';
import { deriveId } from '../crypto';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import {
  decrypt,
  encryptedPart,
  encryptedPartOfXml,
  parsePushMessage,
  parsePushXml,
  PushDecryptError,
  PushFormatError,
  verifyMsgSignature,
  verifySignature,
  XML_REFUSED,
  type PushMessage,
} from './wechat-message';
import type { EventDedupe } from './ports';

/** A request to /wechat/events: its query (as API Gateway decodes it) and, for a POST, its body as text. */
export interface PushRequest {
  query: Record<string, string | undefined>;
  body: string;
}

/** What became of a push. WeChat is answered `success` for each. */
export type PushOutcome = 'applied' | 'duplicate' | 'ignored';

/** A push whose timestamp is further than this from our clock is refused (replays of an old request). */
export const TIMESTAMP_WINDOW_SECONDS = 300;

/**
 * What a `RevokeInfo` withdraws of what this service keeps. WeChat's table (授权用户信息变更,
 * RevokeInfo 用户撤回的授权信息) and what each value means here:
 *
 * | value | WeChat's words | here |
 * |---|---|---|
 * | 8  | 手机号 | `phone`: the number bound with the 手机号快速验证组件 (POST /user/phone) |
 * | 6  | 昵称和头像 | `profile`: the nickname and the avatar |
 * | 19 | 昵称输入键盘中选择的微信昵称 | `profile`: the nickname, from `<input type="nickname">`, whose keyboard offers the WeChat nickname |
 * | 20 | 获取用户头像组件中选择的微信头像 | `profile`: the avatar, from `chooseAvatar`, which offers the WeChat avatar |
 *
 * The others (1 车牌号, 2 地址, 3 发票信息, 4 蓝牙, 5 麦克风, 7 摄像头, 12 微信运动步数,
 * 13 位置信息, 14 选中的图片或视频, 15 选中的文件, 16 邮箱地址, 18 选择的位置信息) are nothing
 * this service asks for or keeps. The port has one `profile` flag for the nickname and the
 * avatar, so 19 or 20 alone clears both. A user may have typed their own nickname rather than
 * picked WeChat's: it goes all the same, as nothing tells the two apart.
 */
const REVOKES: Record<AppKind, Record<string, keyof Revoked>> = {
  miniprogram: { '8': 'phone', '6': 'profile', '19': 'profile', '20': 'profile' },
  /**
   * A 公众号's (用户撤回的H5授权信息): 205 昵称和头像 is the profile; 201 地址, 202 发票信息,
   * 203 卡券信息, 204 麦克风, 206 位置信息, 207 选中的图片或视频 are nothing kept here.
   */
  officialAccount: { '205': 'profile' },
  /**
   * An App's: 301 用户撤回移动应用所有授权信息, all the App's grant covered. Its login is all this
   * service took from it (no user info is fetched): the sessions opened through the App end.
   */
  mobileApp: { '301': 'appSessions' },
};

/**
 * The RevokeInfo's values as `Revoked`, by the table of the app's kind (a mini-program's, a
 * 公众号's, an App's differ). WeChat's pages show one value a push; a list (commas or spaces
 * between the values) is read value by value rather than refused.
 */
export function revokedOf(revokeInfo: string, kind: AppKind = 'miniprogram'): Revoked {
  const revoked: Revoked = { phone: false, profile: false };
  for (const value of revokeInfo.split(/[\s,|;]+/)) {
    const what = REVOKES[kind][value];
    if (what) revoked[what] = true;
  }
  return revoked;
}

/** An authorization event this service acts on, as the account port takes it. */
type AccountEvent =
  | { name: 'user_authorization_revoke'; openid: string; revoked: Revoked }
  | { name: 'user_authorization_cancellation'; openid: string }
  | { name: 'user_info_modified'; openid: string };

const HANDLED = new Set(['user_authorization_revoke', 'user_authorization_cancellation', 'user_info_modified']);

export interface PushDeps {
  /** The console's Token (消息推送 → Token). */
  token: string;
  /** The console's EncodingAESKey. */
  encodingAesKey: string;
  /** Our app's AppID: what a decrypted message ends with and what the events name. */
  appId: string;
  /**
   * Its kind: a mini-program's pushes are JSON (数据格式, set so in its console); a 公众号's are
   * XML (its console has no other), an App's either. The RevokeInfo table is the kind's too.
   */
  kind?: AppKind;
  events: AccountEvents;
  dedupe: EventDedupe;
  /**
   * Take 明文模式 pushes too (WECHAT_PUSH_PLAINTEXT=accept). Off by default: their signature
   * does not cover the body, so anyone who saw one signed URL could send any body with it.
   */
  acceptPlaintext?: boolean;
  /** Epoch ms. */
  now?: () => number;
}

/**
 * WeChat's message push for the authorization events (授权用户信息变更).
 *
 * GET, the URL check: a good `signature` gets `echostr` back; anything else is refused.
 *
 * POST, a push:
 *  1. verify it: 安全模式 only (`encrypt_type=aes`), `msg_signature` over the body's Encrypt,
 *     and a timestamp within 5 minutes of our clock. Anything else is 403 (INVALID_SIGNATURE).
 *     明文模式 (no `encrypt_type`, or `raw`) is refused before the body is read at all: its
 *     `signature` covers the Token, timestamp and nonce but not the body, and the same
 *     `signature` rides in every 安全模式 push URL and in the URL check, so whoever sees one
 *     signed URL could post any body with it (a cancellation that deletes any user's account)
 *     for 5 minutes. There is no setting to accept it;
 *  2. decrypt it and read the message: the decrypted one only. WeChat's 兼容模式 sends
 *     `encrypt_type=aes` and the message's fields in clear beside `Encrypt`; those are unsigned
 *     and never read;
 *  3. ignore what is not ours: another mini-program's push, other events and messages;
 *  4. claim the event's record (see eventIdOf): an event already done is not run again;
 *  5. run it on the account port. If that fails, let go of the claim and fail (503 or 500), so
 *     that WeChat's retry runs it; otherwise mark it done.
 */
export class PushService {
  private readonly now: () => number;

  constructor(private readonly deps: PushDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Whether this app's pushes may come in XML: a 公众号's and an App's, never a mini-program's. */
  private takesXml(): boolean {
    return (this.deps.kind ?? 'miniprogram') !== 'miniprogram';
  }

  /** The URL check (GET): the `echostr` to answer, or INVALID_SIGNATURE. Never echoes on a bad signature. */
  verifyUrl(query: PushRequest['query']): string {
    const { timestamp, nonce, signature, echostr } = query;
    if (!timestamp || !nonce || !echostr) throw refused('unsigned');
    if (!verifySignature(this.deps.token, timestamp, nonce, signature)) throw refused('signature');
    return echostr;
  }

  async receive(request: PushRequest, log: Logger): Promise<PushOutcome> {
    const verified = this.verified(request, log);
    const message = this.read(verified, log);
    if (message === undefined) return 'ignored';
    const event = this.accountEvent(message, log);
    if (event === undefined) return 'ignored';

    const eventId = eventIdOf(message);
    const eventLog = log.child({ pushEvent: event.name, eventId });
    const claim = await this.deps.dedupe.claim(eventId);
    if (claim === 'done') {
      eventLog.info('push event already applied: not run again');
      return 'duplicate';
    }
    if (claim === 'running') {
      // Claimed but not done: another request may be running it, or one whose claim was
      // written but whose answer was lost, which would otherwise refuse WeChat's retries until
      // the claim lapses, past the few retries WeChat makes. The account side's methods are
      // safe to run twice, also at once: run it here too.
      eventLog.info('push event claimed but not done: running it (its effects are idempotent)');
    }

    try {
      await this.apply(event, eventLog);
    } catch (err) {
      // The error status makes WeChat retry the push (three times in all). Released, the retry
      // runs the event; were the release lost too, the claim lapses within its few seconds.
      await this.deps.dedupe.release(eventId).catch((releaseErr: unknown) => {
        eventLog.warn('push event claim not released: it lapses by itself', { errorCode: releaseErr instanceof AppError ? releaseErr.code : 'INTERNAL' });
      });
      throw err;
    }
    // Applied. Were the mark lost, the claim lapses and a retry or replay runs the event again,
    // which the account port allows (each of its methods is safe to run twice).
    await this.deps.dedupe.complete(eventId).catch((markErr: unknown) => {
      eventLog.warn('push event applied but not marked done', { errorCode: markErr instanceof AppError ? markErr.code : 'INTERNAL' });
    });
    eventLog.info('push event applied');
    return 'applied';
  }

  /** Step 1: the body's `Encrypt` (安全模式) or, when taken, the 明文模式 JSON, once the request is WeChat's; else INVALID_SIGNATURE. */
  private verified(request: PushRequest, log: Logger): { encrypt: string } | { json: string } {
    const { query } = request;
    const plaintext = query.encrypt_type === undefined || query.encrypt_type === 'raw';
    // First, and before the body is looked at: nothing in a 明文模式 request is signed but the
    // URL's timestamp and nonce, which anyone who saw one signed URL holds.
    if (query.encrypt_type !== 'aes' && !(plaintext && this.deps.acceptPlaintext)) throw refusedMode(query.encrypt_type);
    const { timestamp, nonce } = query;
    if (!timestamp || !nonce) throw refused('unsigned');
    let verified: { encrypt: string } | { json: string };
    if (plaintext) {
      if (!verifySignature(this.deps.token, timestamp, nonce, query.signature)) throw refused('signature');
      verified = { json: request.body };
    } else {
      const encrypt = encryptedPart(request.body) ?? (this.takesXml() ? encryptedPartOfXml(request.body) : undefined);
      if (!encrypt) {
        // 数据格式 left at XML: WeChat signed it, so this is the console's setting, not a
        // forgery. Say so (400 and the fix in the log), or the operator would chase the Token.
        const xmlEncrypt = encryptedPartOfXml(request.body);
        if (xmlEncrypt && verifyMsgSignature(this.deps.token, timestamp, nonce, xmlEncrypt, query.msg_signature)) {
          // At warn: WeChat drops every push (cancellations included) until the console is fixed.
          log.warn('push refused: the console sends XML; set 数据格式 to JSON', { refused: XML_REFUSED });
          throw new AppError('INVALID_REQUEST', 'The pushed message is not one this service reads.', { details: { refused: XML_REFUSED } });
        }
        throw refused('signature');
      }
      if (!verifyMsgSignature(this.deps.token, timestamp, nonce, encrypt, query.msg_signature)) throw refused('signature');
      verified = { encrypt };
    }
    // The signed timestamp, not the message's CreateTime: it is what a replay cannot change.
    const skew = /^\d{1,12}$/.test(timestamp) ? Math.abs(Math.floor(this.now() / 1000) - Number(timestamp)) : Infinity;
    if (skew > TIMESTAMP_WINDOW_SECONDS) throw refused('timestamp');
    return verified;
  }

  /** Step 2: the decrypted message, or undefined for a push of another mini-program. */
  private read(verified: { encrypt: string } | { json: string }, log: Logger): PushMessage | undefined {
    let text: string;
    try {
      text = 'json' in verified ? verified.json : decrypt(this.deps.encodingAesKey, this.deps.appId, verified.encrypt);
    } catch (err) {
      if (err instanceof PushDecryptError && err.reason === 'appid') {
        log.warn('push for another mini-program ignored: it shares this Token and EncodingAESKey');
        return undefined;
      }
      // Signed with our Token, yet not readable with our key: the console's EncodingAESKey is
      // not WECHAT_PUSH_AES_KEY. A 500 puts it on the error-rate alarm.
      throw new AppError('INTERNAL', 'push message cannot be decrypted: is WECHAT_PUSH_AES_KEY the console’s EncodingAESKey?', {
        details: { refused: err instanceof PushDecryptError ? err.reason : 'decrypt' },
      });
    }
    try {
      return this.takesXml() && text.trimStart().startsWith('<') ? parsePushXml(text) : parsePushMessage(text);
    } catch (err) {
      if (!(err instanceof PushFormatError)) throw err;
      throw new AppError('INVALID_REQUEST', 'The pushed message is not one this service reads.', { details: { refused: err.message } });
    }
  }

  /** Step 3: the event to run, or undefined (logged) for anything this service does not act on. */
  private accountEvent(message: PushMessage, log: Logger): AccountEvent | undefined {
    if (message.msgType !== 'event' || !message.event || !HANDLED.has(message.event)) {
      log.debug('push ignored: not an event this service handles', { msgType: message.msgType, pushEvent: message.event });
      return undefined;
    }
    const { event: name, openid, appId } = message;
    const missing = !openid ? 'OpenID' : !appId ? 'AppID' : name === 'user_authorization_revoke' && !message.revokeInfo ? 'RevokeInfo' : undefined;
    if (missing) {
      throw new AppError('INVALID_REQUEST', 'The pushed message is not one this service reads.', { details: { refused: `${missing} is missing`, pushEvent: name } });
    }
    // Signed with our Token, so WeChat sent it, but about another mini-program (one that shares
    // the URL and Token). Answered success: a refusal only makes WeChat send it three more
    // times and then drop it, and it can never become ours.
    if (appId !== this.deps.appId) {
      log.warn('push for another mini-program ignored', { pushEvent: name, appId });
      return undefined;
    }
    if (name === 'user_authorization_revoke') {
      const revoked = revokedOf(message.revokeInfo!, this.deps.kind);
      if (!revoked.phone && !revoked.profile && !revoked.appSessions) {
        log.info('authorization revoked for data this service does not keep: nothing to do', { revokeInfo: message.revokeInfo });
        return undefined;
      }
      return { name, openid: openid!, revoked };
    }
    return { name: name as 'user_authorization_cancellation' | 'user_info_modified', openid: openid! };
  }

  private apply(event: AccountEvent, log: Logger): Promise<void> {
    const { events } = this.deps;
    switch (event.name) {
      case 'user_authorization_revoke':
        return events.authorizationRevoked(event.openid, event.revoked, log);
      case 'user_authorization_cancellation':
        return events.accountCancelled(event.openid, log);
      case 'user_info_modified':
        return events.infoModified(event.openid, log);
    }
  }
}

function refused(reason: 'unsigned' | 'signature' | 'timestamp'): AppError {
  // The client gets the code's fixed message; which check failed is for our log only.
  return new AppError('INVALID_SIGNATURE', undefined, { details: { refused: reason } });
}

/** Shown to the caller: only a console set to 明文模式 sends these, and its operator needs to know. */
export const PLAINTEXT_REFUSED = 'Only 安全模式 (encrypt_type=aes) pushes are accepted: set 消息加密方式 to 安全模式 in the console.';

/** A POST that is not 安全模式: 明文模式 (no encrypt_type, or raw), or an encrypt_type WeChat has not defined. */
function refusedMode(encryptType: string | undefined): AppError {
  const plaintext = encryptType === undefined || encryptType === 'raw';
  return new AppError('INVALID_SIGNATURE', PLAINTEXT_REFUSED, { details: { refused: plaintext ? 'plaintext' : 'encrypt_type' } });
}

/**
 * The record a pushed event is processed once by: a digest, so that no openid is ever a Redis
 * key. WeChat's own advice for retries (消息排重): "有msgid的消息推荐使用msgid排重。事件类型消息
 * 推荐使用FromUserName + CreateTime 排重". For these events FromUserName is the push service
 * (平台推送服务UserName), the same for every user, so the user's OpenID takes its place, with
 * the event's name, its CreateTime and its RevokeInfo: a retry repeats them all, while two
 * events of one user in the same second (a revoked phone number and a revoked nickname, say)
 * stay two events. A message with a MsgId goes by its MsgId.
 */
export function eventIdOf(message: PushMessage): string {
  const identity = message.msgId
    ? ['msg', message.msgId]
    : ['event', message.appId ?? '', message.openid ?? '', message.event ?? '', String(message.createTime), message.revokeInfo ?? ''];
  return deriveId('push-event', JSON.stringify(identity));
}
