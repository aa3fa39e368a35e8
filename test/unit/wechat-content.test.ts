import { describe, expect, it, vi } from 'vitest';
import { AppError } from '../../lib/errors';
import type { WechatApi } from '../../lib/adapters/wechat-access-token';
import {
  CONTENT_ERRCODES,
  DAILY_QUOTA_RETRY_AFTER_SECONDS,
  USER_NOT_ACTIVE_RETRY_AFTER_SECONDS,
  createWechatContentCheck,
} from '../../lib/adapters/wechat-content';
import { failure } from '../support/failure';

const API = '/wxa/msg_sec_check';
const OPENID = 'oRhHa1XxnSTM2w3ybVq7VL6Hb';
/** A nickname, which must never show up in an error. */
const NICKNAME = '夜行的猫Kitty';

/**
 * Answers as WechatApi hands them over: parsed JSON, in the shape of msg_sec_check v2's docs
 * and of answers developers have posted from real calls (detail lists the strategies, result
 * is the combined verdict, label a number).
 */
const RECORDED = {
  pass: {
    errcode: 0,
    errmsg: 'ok',
    detail: [
      { strategy: 'keyword', errcode: 0 },
      { strategy: 'content_model', errcode: 0, suggest: 'pass', label: 100, prob: 90 },
    ],
    trace_id: '689cadcd-1957d810-20bdb7c8',
    result: { suggest: 'pass', label: 100 },
  },
  review: {
    errcode: 0,
    errmsg: 'ok',
    detail: [
      { strategy: 'content_model', errcode: 0, suggest: 'review', label: 20001, prob: 90 },
      { strategy: 'keyword', errcode: 0 },
    ],
    trace_id: '64107881-65f15508-586e63ec',
    result: { suggest: 'review', label: 20001 },
  },
  risky: {
    errcode: 0,
    errmsg: 'ok',
    detail: [
      { strategy: 'content_model', errcode: 0, suggest: 'risky', label: 20006, prob: 90 },
      { strategy: 'keyword', errcode: 0 },
    ],
    trace_id: '62987eb8-18ca076c-37fc373b',
    result: { suggest: 'risky', label: 20006 },
  },
  userNotActive: { errcode: 61010, errmsg: 'code is expired rid: 63463baf-59306a11-0ea004aa' },
  minuteFrequency: { errcode: 44991, errmsg: 'reach max api minute frequence rid: 6512a1b2-0c9d8e7f-1a2b3c4d' },
  minuteQuota: { errcode: 45011, errmsg: 'api minute-quota reach limit  mustslower  retry next minute rid: 1' },
  dailyQuota: { errcode: 45009, errmsg: 'reach max api daily quota limit rid: 66f7b959-7103abc4-4254340c' },
  invalidOpenid: { errcode: 40003, errmsg: 'invalid openid rid: 6434ff5a-2fa14aea-3e124908' },
  openidMismatch: { errcode: 43104, errmsg: 'The openid does not match the appid rid: 1' },
  invalidScene: { errcode: 40129, errmsg: 'invalid scene rid: 1' },
  requirePost: { errcode: 43002, errmsg: 'require POST method rid: 1' },
  emptyPostData: { errcode: 44002, errmsg: 'empty post data rid: 1' },
  dataFormat: { errcode: 47001, errmsg: 'data format error rid: 1' },
};

type Answer = Record<string, unknown>;

function check(answer: Answer | (() => Promise<Answer>)) {
  const post = vi.fn<WechatApi['post']>(async () => (typeof answer === 'function' ? answer() : structuredClone(answer)));
  return { check: createWechatContentCheck({ post, get: vi.fn() }), post };
}

/** Everything an error lets anyone see. */
const visible = (err: AppError) => JSON.stringify({ message: err.message, details: err.details, stack: err.stack });

/** A recorded pass with its result replaced. */
const withResult = (result: unknown): Answer => ({ ...structuredClone(RECORDED.pass), result });

describe('Function: createWechatContentCheck', () => {
  describe('Method: checkText', () => {
    it('POSTs exactly {version: 2, openid, scene: 1, content} to msg_sec_check, safe to re-send (idempotent: true)', async () => {
      const { check: client, post } = check(RECORDED.pass);
      await client.checkText(OPENID, NICKNAME);
      expect(post).toHaveBeenCalledExactlyOnceWith(API, { version: 2, openid: OPENID, scene: 1, content: NICKNAME }, { idempotent: true });
      // Exactly these fields, in this order, and version as the number the v2 docs ask for.
      expect(JSON.stringify(post.mock.calls[0]![1])).toBe(JSON.stringify({ version: 2, openid: OPENID, scene: 1, content: NICKNAME }));
    });

    it.each([
      ['pass (label 100, 正常)', RECORDED.pass, { suggest: 'pass', label: 100 }],
      ['review (label 20001, 时政)', RECORDED.review, { suggest: 'review', label: 20001 }],
      ['risky (label 20006, 违法犯罪)', RECORDED.risky, { suggest: 'risky', label: 20006 }],
      ['a label sent as a string of digits, as older docs typed it', withResult({ suggest: 'risky', label: '20002' }), { suggest: 'risky', label: 20002 }],
      ['a verdict without a label', withResult({ suggest: 'review' }), { suggest: 'review' }],
      ['an answer without errcode (success, as most v2 APIs send it)', { result: { suggest: 'pass', label: 100 } }, { suggest: 'pass', label: 100 }],
    ])('answers the verdict of %s', async (_name, answer, expected) => {
      await expect(check(answer).check.checkText(OPENID, NICKNAME)).resolves.toEqual(expected);
    });

    it('reads only result, the combined verdict, whatever detail says strategy by strategy', async () => {
      const answer = structuredClone(RECORDED.pass);
      answer.detail = [{ strategy: 'content_model', errcode: 0, suggest: 'risky', label: 20002, prob: 40 }];
      await expect(check(answer).check.checkText(OPENID, NICKNAME)).resolves.toEqual({ suggest: 'pass', label: 100 });
    });

    it('answers 61010 (no visit in two hours) with SERVICE_UNAVAILABLE, Retry-After and userSide, not a WECHAT_ERROR', async () => {
      const err = await failure(check(RECORDED.userNotActive).check.checkText(OPENID, NICKNAME));
      expect({ code: err.code, status: err.status, retryAfter: err.retryAfterSeconds }).toEqual({
        code: 'SERVICE_UNAVAILABLE',
        status: 503,
        retryAfter: USER_NOT_ACTIVE_RETRY_AFTER_SECONDS,
      });
      expect(err.details).toEqual({ api: API, errcode: 61010, errmsg: RECORDED.userNotActive.errmsg, userSide: true });
    });

    it.each([
      ['44991 (minute frequency)', RECORDED.minuteFrequency, 60],
      ['45011 (global minute quota)', RECORDED.minuteQuota, 60],
      ['45009 (daily quota)', RECORDED.dailyQuota, DAILY_QUOTA_RETRY_AFTER_SECONDS],
    ])('answers %s with RATE_LIMITED (429) and Retry-After', async (_name, answer, retryAfter) => {
      const err = await failure(check(answer).check.checkText(OPENID, NICKNAME));
      expect({ code: err.code, status: err.status, retryAfter: err.retryAfterSeconds }).toEqual({ code: 'RATE_LIMITED', status: 429, retryAfter });
      expect(err.details).toMatchObject({ api: API, errcode: answer.errcode, errmsg: answer.errmsg });
      expect(err.details).not.toHaveProperty('userSide');
    });

    it('tells the operator that a spent daily quota means something checks far too often', async () => {
      const err = await failure(check(RECORDED.dailyQuota).check.checkText(OPENID, NICKNAME));
      expect(err.details?.action).toContain('far too often');
    });

    it.each([
      ['40003 (invalid openid)', RECORDED.invalidOpenid, 'jscode2session'],
      ['43104 (openid of another appid)', RECORDED.openidMismatch, 'WECHAT_APPID'],
      ['40129 (invalid scene)', RECORDED.invalidScene, 'lib/adapters/wechat-content.ts'],
      ['43002 (not POST)', RECORDED.requirePost, 'transport'],
      ['44002 (empty body)', RECORDED.emptyPostData, 'transport'],
      ['47001 (data format error)', RECORDED.dataFormat, '2500-character limit'],
      ['an undocumented errcode', { errcode: 48001, errmsg: 'api unauthorized rid: 1' }, 'global errcode table'],
    ])('answers %s with WECHAT_ERROR (502), saying what the operator must do', async (_name, answer, action) => {
      const err = await failure(check(answer).check.checkText(OPENID, NICKNAME));
      expect({ code: err.code, status: err.status }).toEqual({ code: 'WECHAT_ERROR', status: 502 });
      expect(err.details).toMatchObject({ api: API, errcode: answer.errcode, errmsg: answer.errmsg, action: expect.stringContaining(action) });
      expect(err.details).not.toHaveProperty('userSide');
    });

    it('treats only 61010 as the user’s side: every other documented errcode is ours', async () => {
      const userSide: number[] = [];
      for (const errcode of Object.values(CONTENT_ERRCODES)) {
        const err = await failure(check({ errcode, errmsg: 'x' }).check.checkText(OPENID, NICKNAME));
        if (err.details?.userSide === true) userSide.push(errcode);
      }
      expect(userSide).toEqual([61010]);
    });

    it('answers a -1 that came through with WECHAT_UNAVAILABLE', async () => {
      const err = await failure(check({ errcode: -1, errmsg: 'system error rid: 1' }).check.checkText(OPENID, NICKNAME));
      expect({ code: err.code, status: err.status }).toEqual({ code: 'WECHAT_UNAVAILABLE', status: 503 });
    });

    it.each([
      ['no result', { errcode: 0, errmsg: 'ok', detail: RECORDED.pass.detail }, 'result'],
      ['a null result', withResult(null), 'result'],
      ['a result that is an array', withResult([{ suggest: 'pass' }]), 'result'],
      ['a result that is a string', withResult('pass'), 'result'],
      ['no suggest', withResult({ label: 100 }), 'result.suggest'],
      ['an unknown suggest', withResult({ suggest: 'block', label: 20002 }), 'result.suggest'],
      ['a suggest in capitals', withResult({ suggest: 'PASS', label: 100 }), 'result.suggest'],
      ['a label with letters', withResult({ suggest: 'pass', label: '100a' }), 'result.label'],
      ['a fractional label', withResult({ suggest: 'pass', label: 100.5 }), 'result.label'],
      ['a negative label', withResult({ suggest: 'pass', label: -1 }), 'result.label'],
      ['a label that is an object', withResult({ suggest: 'pass', label: { id: 100 } }), 'result.label'],
      ['a null label', withResult({ suggest: 'pass', label: null }), 'result.label'],
    ])('answers WECHAT_UNAVAILABLE to %s, never a pass', async (_name, answer, field) => {
      const err = await failure(check(answer).check.checkText(OPENID, NICKNAME));
      expect({ code: err.code, status: err.status }).toEqual({ code: 'WECHAT_UNAVAILABLE', status: 503 });
      expect(err.details).toEqual({ api: API, reason: 'malformed reply', field });
    });

    it('keeps the content out of every error, even when WeChat’s errmsg quotes it', async () => {
      for (const errcode of [...Object.values(CONTENT_ERRCODES), 48001]) {
        const errmsg = `bad content "${NICKNAME}" rid: 1`;
        const err = await failure(check({ errcode, errmsg }).check.checkText(OPENID, NICKNAME));
        expect(visible(err)).not.toContain(NICKNAME);
        expect(err.details?.errmsg).toBe('bad content "[CONTENT]" rid: 1');
      }
      const malformed = await failure(check(withResult({ suggest: NICKNAME })).check.checkText(OPENID, NICKNAME));
      expect(visible(malformed)).not.toContain(NICKNAME);
    });

    it('lets WechatApi’s own failures through as they are', async () => {
      const unavailable = new AppError('WECHAT_UNAVAILABLE', '/wxa/msg_sec_check failed: timeout');
      const { check: client } = check(() => Promise.reject(unavailable));
      await expect(client.checkText(OPENID, NICKNAME)).rejects.toBe(unavailable);
    });
  });
});
