import { AppError } from '../errors';
import type { ContentCheck } from '../profile/ports';
import type { WechatApi } from './wechat-access-token';
import { BUSY } from './wechat-shared';

const API = '/wxa/msg_sec_check';

/**
 * The errcodes msg_sec_check (文本内容安全识别, version 2) documents, besides -1 and 40001,
 * which WechatApi handles. The docs' words for each: 40003 "invalid openid", 40129 "invalid
 * scene", 43002 "require POST method", 43104 "The openid does not match the appid", 44002
 * "empty post data", 44991 "reach max api minute frequence", 45009 "reach max api daily quota
 * limit", 47001 "data format error", 61010 "code is expired" (用户访问记录超时:
 * 用户未在近两小时访问小程序).
 */
export const CONTENT_ERRCODES = {
  INVALID_OPENID: 40003,
  INVALID_SCENE: 40129,
  REQUIRE_POST: 43002,
  OPENID_APPID_MISMATCH: 43104,
  EMPTY_POST_DATA: 44002,
  MINUTE_FREQUENCY: 44991,
  /** Not in msg_sec_check's table, but WeChat's global minute quota ("api minute-quota reach limit"). */
  MINUTE_QUOTA: 45011,
  DAILY_QUOTA: 45009,
  DATA_FORMAT: 47001,
  USER_NOT_ACTIVE: 61010,
} as const;

/** Scene 1 is 资料, a user's profile data (nickname, signature); 2 评论, 3 论坛 and 4 社交日志 are for other text. */
export const PROFILE_SCENE = 1;

/**
 * Retry-After of a 61010. WeChat says when the record fails (no visit in the last two hours),
 * not when it will be there again; the user asking is in the mini-program right now, and
 * WeChat's record of that visit may lag. 30 s is a guess, above the client kit's 8 s
 * (maxDelayMs) on purpose: the kit hands the answer to the app at once instead of retrying in
 * a loop that re-entering the mini-program may be needed to end.
 */
export const USER_NOT_ACTIVE_RETRY_AFTER_SECONDS = 30;

/**
 * Retry-After of a spent daily quota (2,000,000 checks a day per appid, per the docs). The docs
 * do not say when the day's count resets; an operator can reset it (clearQuota) sooner.
 */
export const DAILY_QUOTA_RETRY_AFTER_SECONDS = 3600;

/** What the operator must do about an errcode that is our configuration or our bug. */
const ACTIONS: Record<number, string> = {
  [CONTENT_ERRCODES.INVALID_OPENID]:
    'WeChat does not know the openid ("不合法的 OpenID"): it was not issued by jscode2session for WECHAT_APPID, or the user row holds a damaged one',
  [CONTENT_ERRCODES.OPENID_APPID_MISMATCH]:
    'the openid belongs to another mini-program than WECHAT_APPID: was WECHAT_APPID changed after users signed in?',
  [CONTENT_ERRCODES.INVALID_SCENE]: 'WeChat refused the scene (1 to 4): a bug in lib/adapters/wechat-content.ts',
  [CONTENT_ERRCODES.REQUIRE_POST]: 'msg_sec_check was not called with POST: a bug in the WeChat transport',
  [CONTENT_ERRCODES.EMPTY_POST_DATA]: 'WeChat got an empty body: a bug in the WeChat transport',
  [CONTENT_ERRCODES.DATA_FORMAT]:
    'WeChat could not read the body or missed a parameter: a bug in lib/adapters/wechat-content.ts, or perhaps content it will not take (empty, or over its 2500-character limit: the caller should refuse those first)',
};

/**
 * `POST /wxa/msg_sec_check` version 2: WeChat's verdict on a piece of profile text, for the
 * user `openid` (who must have used the mini-program in the last two hours). A check changes
 * nothing at WeChat, so WechatApi may send it again after a reset socket (idempotent: true).
 *
 * Only `result` counts, WeChat's combined verdict over its strategies ("综合结果"); `detail`
 * lists the strategies one by one and is not read. An answer without a verdict we understand
 * is WECHAT_UNAVAILABLE, never a pass.
 *
 * The content is the user's own data (a nickname): it never goes into an error here, not even
 * when WeChat's errmsg quotes it. Whether to log it is the caller's decision.
 */
export function createWechatContentCheck(api: WechatApi): ContentCheck {
  return {
    async checkText(openid, content) {
      const answer = await api.post(API, { version: 2, openid, scene: PROFILE_SCENE, content }, { idempotent: true });
      // WechatApi hands back every errcode but 0 as a number.
      if (typeof answer.errcode === 'number' && answer.errcode !== 0) {
        const errmsg = typeof answer.errmsg === 'string' ? withheld(answer.errmsg, content) : '';
        throw mapErrcode(answer.errcode, errmsg);
      }
      return parseResult(answer.result);
    },
  };
}

function mapErrcode(errcode: number, errmsg: string): AppError {
  const details = { api: API, errcode, errmsg };
  switch (errcode) {
    case CONTENT_ERRCODES.USER_NOT_ACTIVE:
      // The user's state, not our configuration: 503 at warn level, no WECHAT_ERROR alarm.
      return new AppError('SERVICE_UNAVAILABLE', 'msg_sec_check: the user has not used the mini-program in the last two hours (61010)', {
        retryAfterSeconds: USER_NOT_ACTIVE_RETRY_AFTER_SECONDS,
        details: { ...details, userSide: true },
      });
    case CONTENT_ERRCODES.MINUTE_FREQUENCY:
    case CONTENT_ERRCODES.MINUTE_QUOTA:
      return new AppError('RATE_LIMITED', 'WeChat content-check quota reached. Retry in a minute.', { retryAfterSeconds: 60, details });
    case CONTENT_ERRCODES.DAILY_QUOTA:
      return new AppError('RATE_LIMITED', 'WeChat content-check daily quota reached. Retry later.', {
        retryAfterSeconds: DAILY_QUOTA_RETRY_AFTER_SECONDS,
        details: { ...details, action: "msg_sec_check's daily quota is spent: something checks far too often (clearQuota resets it, a few times a month)" },
      });
    case BUSY:
      // WechatApi retries -1 and throws itself; should one come through, it is still "busy".
      return new AppError('WECHAT_UNAVAILABLE', 'msg_sec_check failed: busy', { details: { ...details, reason: 'busy' } });
    default:
      return new AppError('WECHAT_ERROR', `msg_sec_check answered errcode ${errcode}`, {
        details: { ...details, action: ACTIONS[errcode] ?? 'an errcode msg_sec_check does not document: look it up in WeChat’s global errcode table' },
      });
  }
}

/**
 * WeChat's combined verdict. The v2 docs type `label` as a number (WeChat sends one); older
 * pages said string, so a string of digits is read as its number. A missing label is allowed:
 * the verdict is `suggest`.
 */
function parseResult(result: unknown): { suggest: 'pass' | 'review' | 'risky'; label?: number } {
  if (!isObject(result)) throw malformed('result');
  const { suggest, label } = result;
  if (suggest !== 'pass' && suggest !== 'review' && suggest !== 'risky') throw malformed('result.suggest');
  if (label === undefined) return { suggest };
  const value = typeof label === 'number' ? label : typeof label === 'string' && /^\d{1,9}$/.test(label) ? Number(label) : NaN;
  if (!Number.isSafeInteger(value) || value < 0) throw malformed('result.label');
  return { suggest, label: value };
}

function malformed(field: string): AppError {
  return new AppError('WECHAT_UNAVAILABLE', `msg_sec_check failed: malformed ${field}`, {
    details: { api: API, reason: 'malformed reply', field },
  });
}

/** WeChat's errmsg without the checked text: its documented messages never quote it; this keeps it so. */
function withheld(errmsg: string, content: string): string {
  return content ? errmsg.split(content).join('[CONTENT]') : errmsg;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
