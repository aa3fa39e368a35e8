import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { authorizerEvent, bodyOf, httpEvent, loginFrom } from '../support/events';
import { coldStart, useLocalStack, type Handler } from '../support/local';
import { IMAGES, uploadEvent } from '../support/multipart';
import { capturedStdout } from '../support/log-capture';

/**
 * POST /user/avatar and POST /user/profile, loaded as Lambda loads them, with the authorizer's
 * context from a real login, against dynalite, the S3 stand-in (which serves avatars as the CDN
 * would), Redis and the WeChat stub's msg_sec_check.
 */
describe('Functions: avatar and profile (integration)', () => {
  const ctx = useLocalStack({ WECHAT_TIMEOUT_MS: '400', WECHAT_DEADLINE_MS: '900', AVATAR_MAX_BYTES: '4096', LOG_LEVEL: 'info' });
  let login: Handler;
  let authorize: (event: unknown) => Promise<{ isAuthorized: boolean; context?: Record<string, string> }>;
  let avatar: Handler;
  let profile: Handler;
  let me: Handler;
  const printed = capturedStdout();

  beforeAll(async () => {
    login = await coldStart('login', ctx.env);
    authorize = await coldStart('authorizer', ctx.env);
    me = await coldStart('me', ctx.env);
    avatar = await coldStart('avatar', ctx.env);
    profile = await coldStart('profile', ctx.env);
  });

  async function user() {
    const name = `p${randomBytes(4).toString('hex')}`;
    const { token } = bodyOf(await login(loginFrom('198.51.100.61', `${name}.1`)));
    const { context } = await authorize(authorizerEvent(`Bearer ${token}`));
    const as = (routeKey: string, extra: Record<string, unknown> = {}) =>
      httpEvent({ routeKey, ...extra, requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never });
    return {
      userId: context!.userId!,
      upload: async (file: Uint8Array, options?: Parameters<typeof uploadEvent>[1]) => {
        const { headers, body, isBase64Encoded } = await uploadEvent(file, options);
        return avatar(as('POST /user/avatar', { headers, body, isBase64Encoded }));
      },
      /** The same upload through another build of the avatar function (other settings). */
      uploadWith: async (handler: Handler, file: Uint8Array) => {
        const { headers, body, isBase64Encoded } = await uploadEvent(file);
        return handler(as('POST /user/avatar', { headers, body, isBase64Encoded }));
      },
      nickname: (body: string) => profile(as('POST /user/profile', { body })),
      profile: async () => bodyOf(await me(as('GET /user/me'))),
    };
  }
  const avatarKeys = (userId: string) => ctx.stack.s3.keys().filter((key) => key.startsWith(`avatars/${userId}/`));

  describe('POST /user/avatar', () => {
    it('counts uploads per user in the lease write: over AVATAR_UPLOAD_LIMIT answers 429 with Retry-After and stores nothing', async () => {
      const limited = await coldStart('avatar', { ...ctx.env, AVATAR_UPLOAD_LIMIT: '2' });
      const alice = await user();
      const bob = await user();
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push((await alice.uploadWith(limited, IMAGES.png)).statusCode);
      expect(answers).toEqual([200, 200, 429]);
      const refused = await alice.uploadWith(limited, IMAGES.png);
      expect(bodyOf(refused)).toMatchObject({ error: { code: 'RATE_LIMITED' } });
      expect(Number(refused.headers?.['retry-after'])).toBeGreaterThan(0);
      expect(avatarKeys(alice.userId)).toHaveLength(1);
      // Another user's uploads are their own.
      expect((await bob.uploadWith(limited, IMAGES.png)).statusCode).toBe(200);
    });

    it('stores a file sent as wx.uploadFile sends it and answers an avatarUrl that serves it', async () => {
      const alice = await user();
      const result = await alice.upload(IMAGES.png, { filename: 'tmp_abc.png' });
      expect(result.statusCode).toBe(200);
      const { avatarUrl } = bodyOf(result);
      expect(avatarUrl).toMatch(new RegExp(`/avatars/${alice.userId}/[A-Za-z0-9_-]+\\.png$`));
      const served = await fetch(avatarUrl);
      expect(served.status).toBe(200);
      expect(served.headers.get('content-type')).toBe('image/png');
      expect(served.headers.get('x-content-type-options')).toBe('nosniff');
      expect(Buffer.from(await served.arrayBuffer())).toEqual(IMAGES.png);
      expect((await alice.profile()).avatarUrl).toBe(avatarUrl);
      const [key] = avatarKeys(alice.userId);
      expect(ctx.stack.s3.object(key!)?.tags).toEqual({ avatar: 'in-use' });
    });

    it('decides the type from the bytes: a PNG named .jpg is stored as a PNG', async () => {
      const bob = await user();
      const result = await bob.upload(IMAGES.png, { filename: 'photo.jpg', type: 'image/jpeg' });
      expect(bodyOf(result).avatarUrl).toMatch(/\.png$/);
    });

    it('replaces the avatar and deletes the previous file', async () => {
      const carol = await user();
      const first = bodyOf(await carol.upload(IMAGES.png)).avatarUrl;
      const second = bodyOf(await carol.upload(IMAGES.webp)).avatarUrl;
      expect(second).not.toBe(first);
      expect(avatarKeys(carol.userId)).toEqual([second.slice(second.indexOf('/avatars/') + 1)]);
      // Gone: S3 (and CloudFront before it, without ListBucket) answers 403 for a missing key.
      expect([403, 404]).toContain((await fetch(first)).status);
    });

    it.each([
      ['a file over AVATAR_MAX_BYTES', 413, 'AVATAR_TOO_LARGE', Buffer.concat([IMAGES.png, Buffer.alloc(4096)])],
      ['HTML named .png', 415, 'UNSUPPORTED_IMAGE', IMAGES.html],
    ])('refuses %s with %i %s, keeping the old avatar', async (_name, status, code, file) => {
      const dan = await user();
      const kept = bodyOf(await dan.upload(IMAGES.jpeg)).avatarUrl;
      const result = await dan.upload(file);
      expect(result.statusCode).toBe(status);
      expect(bodyOf(result).error.code).toBe(code);
      expect((await dan.profile()).avatarUrl).toBe(kept);
      expect(avatarKeys(dan.userId)).toHaveLength(1);
    });

    it('refuses a body that is not multipart, or a file in another field, with 400', async () => {
      const eve = await user();
      expect((await eve.upload(IMAGES.png, { field: 'avatar' })).statusCode).toBe(400);
    });

    it('keeps the old avatar when S3 fails to store the new one, and the retry succeeds', async () => {
      const fay = await user();
      const kept = bodyOf(await fay.upload(IMAGES.png)).avatarUrl;
      ctx.stack.s3.failNext('PutObject', 2, 'error');
      const failed = await fay.upload(IMAGES.jpeg);
      expect(failed.statusCode).toBe(503);
      expect((await fay.profile()).avatarUrl).toBe(kept);
      const retried = await fay.upload(IMAGES.jpeg);
      expect(retried.statusCode).toBe(200);
      expect(avatarKeys(fay.userId)).toHaveLength(1);
    });
  });

  describe('POST /user/profile', () => {
    it('sets a nickname WeChat passes, and /user/me shows it', async () => {
      const gus = await user();
      const result = await gus.nickname(JSON.stringify({ nickname: '  丽塔😀 ' }));
      expect(result.statusCode).toBe(200);
      expect(bodyOf(result)).toMatchObject({ userId: gus.userId, nickname: '丽塔😀' });
      expect((await gus.profile()).nickname).toBe('丽塔😀');
    });

    it('refuses a risky nickname with 400 CONTENT_REJECTED and keeps the old one', async () => {
      const hal = await user();
      await hal.nickname(JSON.stringify({ nickname: 'Hal' }));
      const result = await hal.nickname(JSON.stringify({ nickname: 'so risky' }));
      expect(result.statusCode).toBe(400);
      expect(bodyOf(result).error.code).toBe('CONTENT_REJECTED');
      expect((await hal.profile()).nickname).toBe('Hal');
    });

    it('accepts a nickname sent for review, and logs that', async () => {
      const ivy = await user();
      expect((await ivy.nickname(JSON.stringify({ nickname: 'review me' }))).statusCode).toBe(200);
      expect(printed.join('')).toContain('nickname accepted for review');
    });

    it.each([
      ['errcode.61010', 503, 'SERVICE_UNAVAILABLE'],
      ['errcode.-1', 503, 'WECHAT_UNAVAILABLE'],
      ['delay.2000.slow', 503, 'WECHAT_UNAVAILABLE'],
      ['errcode.40003', 502, 'WECHAT_ERROR'],
    ])('answers a check of "%s" with %i %s and stores nothing unchecked', async (nickname, status, code) => {
      const jay = await user();
      const result = await jay.nickname(JSON.stringify({ nickname }));
      expect(result.statusCode).toBe(status);
      expect(bodyOf(result).error.code).toBe(code);
      if (status === 503) expect(Number(result.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
      expect((await jay.profile()).nickname).toBeUndefined();
    });

    it('logs 61010 at warn, as the user’s state, not as a configuration error', () => {
      const lines = printed.join('').split('\n').filter((line) => line.includes('61010'));
      expect(lines.some((line) => line.includes('"level":"warn"'))).toBe(true);
      expect(lines.some((line) => line.includes('"level":"error"'))).toBe(false);
    });

    it.each([
      ['33 characters', JSON.stringify({ nickname: '字'.repeat(33) })],
      ['a newline', JSON.stringify({ nickname: 'a\nb' })],
      ['an unknown key', JSON.stringify({ nickname: 'Kim', avatarUrl: 'x' })],
      ['no nickname', '{}'],
      ['not JSON', 'nickname=Kim'],
    ])('refuses %s with 400 INVALID_REQUEST, without asking WeChat', async (_name, body) => {
      const kim = await user();
      const checks = ctx.stack.wechat.stats.contentChecks;
      const result = await kim.nickname(body);
      expect(result.statusCode).toBe(400);
      expect(bodyOf(result).error.code).toBe('INVALID_REQUEST');
      expect(ctx.stack.wechat.stats.contentChecks).toBe(checks);
    });
  });
});
