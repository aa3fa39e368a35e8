import { randomBytes } from 'node:crypto';
import { GetObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { createS3AvatarStore } from '../../lib/adapters/s3-avatars';
import type { AvatarStore } from '../../lib/profile/ports';
import { useLocalStack } from '../support/local';

/**
 * The S3 adapter against the local stack's S3 stand-in (local/s3.ts), configured from the
 * stack's environment as the avatar function is: bucket, endpoint, public URL, and the SDK's
 * region and credentials, which the stand-in checks in every request's signature.
 */
describe('S3 avatar store (integration)', () => {
  const local = useLocalStack();
  let store: AvatarStore;
  /** A second client, as an operator would look at the bucket: the tags as S3 answers them. */
  let s3: S3Client;
  /** Every test gets keys of its own user. */
  const user = () => `avatars/u${randomBytes(6).toString('hex')}`;
  const png = () => new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...randomBytes(64)]);
  const tagsOf = async (key: string) => (await s3.send(new GetObjectTaggingCommand({ Bucket: local.env.AVATAR_BUCKET, Key: key }))).TagSet;
  const make = (overrides: Partial<Parameters<typeof createS3AvatarStore>[0]> = {}) =>
    createS3AvatarStore({ bucket: local.env.AVATAR_BUCKET!, publicBaseUrl: local.env.AVATAR_BASE_URL!, endpoint: local.env.S3_ENDPOINT!, timeoutMs: 1000, ...overrides });

  beforeAll(() => {
    // As in Lambda: the SDK takes its region and credentials from the environment.
    Object.assign(process.env, local.env);
    store = make();
    s3 = new S3Client({ endpoint: local.env.S3_ENDPOINT!, forcePathStyle: true });
  });

  it('puts a file tagged pending, lists it, serves it at urlOf with its type, marks it in use, deletes it', async () => {
    const prefix = `${user()}/`;
    const key = `${prefix}${randomBytes(8).toString('hex')}.png`;
    const body = png();

    await store.put(key, body, 'image/png');
    expect(await store.list(prefix)).toEqual([key]);
    expect(await tagsOf(key)).toEqual([{ Key: 'avatar', Value: 'pending' }]);

    const url = store.urlOf(key);
    expect(url).toBe(`${local.env.AVATAR_BASE_URL}/${key}`);
    const served = await fetch(url);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(body);

    await store.markInUse(key);
    expect(await tagsOf(key)).toEqual([{ Key: 'avatar', Value: 'in-use' }]);

    await store.delete([key]);
    expect(await store.list(prefix)).toEqual([]);
    expect((await fetch(url)).status).toBe(403); // what the CDN answers for a key that is gone
  });

  it('lists only the prefix asked for', async () => {
    const prefix = `${user()}/`;
    const keys = Array.from({ length: 3 }, (_, i) => `${prefix}${i}.jpg`);
    for (const key of keys) await store.put(key, png(), 'image/jpeg');
    await store.put(`${prefix.slice(0, -1)}x/other.jpg`, png(), 'image/jpeg'); // a longer user id that starts alike
    expect(await store.list(prefix)).toEqual(keys);
  });

  it('deletes several keys in one request, a key that is gone already included', async () => {
    const prefix = `${user()}/`;
    await store.put(`${prefix}a.webp`, png(), 'image/webp');
    await store.put(`${prefix}b.webp`, png(), 'image/webp');
    local.stack.s3.resetStats();
    await store.delete([`${prefix}a.webp`, `${prefix}b.webp`, `${prefix}never-there.webp`]);
    expect(local.stack.s3.stats.operations).toEqual({ DeleteObjects: 1 });
    expect(await store.list(prefix)).toEqual([]);
    await expect(store.delete([])).resolves.toBeUndefined();
  });

  it('takes a put whose answer was lost after S3 stored it as done, when the retry finds the object there (If-None-Match)', async () => {
    const key = `${user()}/lost.png`;
    const body = png();
    local.stack.s3.failNext('PutObject', 1, 'lose-answer');
    local.stack.s3.resetStats();
    await store.put(key, body, 'image/png');
    expect(local.stack.s3.stats.operations.PutObject).toBe(2);
    expect(local.stack.s3.object(key)?.body).toEqual(Buffer.from(body));
    expect(local.stack.s3.object(key)?.tags).toEqual({ avatar: 'pending' });
  });

  it('never lets a second copy of a put replace the file, so a marked avatar cannot go back to pending', async () => {
    const key = `${user()}/kept.png`;
    await store.put(key, png(), 'image/png');
    await store.markInUse(key);
    await store.put(key, png(), 'image/png'); // what a late copy of the first attempt would be
    expect(local.stack.s3.object(key)?.tags).toEqual({ avatar: 'in-use' });
  });

  it('retries a throttled request once', async () => {
    const key = `${user()}/slow.png`;
    local.stack.s3.failNext('PutObject', 1, 'error');
    await store.put(key, png(), 'image/png');
    expect(local.stack.s3.object(key)).toBeDefined();
  });

  describe('failures', () => {
    /** The error a call rejects with, checked to say nothing of S3's own words. */
    async function failure(call: Promise<unknown>): Promise<AppError> {
      const err = await call.then(
        () => {
          throw new Error('expected a failure');
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      const appError = err as AppError;
      expect(appError.code).toBe('SERVICE_UNAVAILABLE');
      expect(appError.status).toBe(503);
      expect(appError.details).toMatchObject({ store: 's3' });
      expect(appError.message).not.toMatch(/reduce your request rate|does not exist|signature|Access Denied/i);
      return appError;
    }

    it('answers SERVICE_UNAVAILABLE when S3 stays throttled past the one retry, after exactly two attempts', async () => {
      local.stack.s3.failNext('ListObjectsV2', 2, 'error');
      local.stack.s3.resetStats();
      const err = await failure(store.list(`${user()}/`));
      expect(err.details).toMatchObject({ operation: 'list', s3Code: 'SlowDown', s3Status: 503 });
      expect(local.stack.s3.stats.operations.ListObjectsV2).toBe(2);
    });

    it('gives up on a request S3 never answers within two attempts of timeoutMs', async () => {
      const quick = make({ timeoutMs: 300 });
      local.stack.s3.failNext('PutObjectTagging', 2, 'hang');
      const started = Date.now();
      const err = await failure(quick.markInUse(`${user()}/hang.png`));
      expect(err.details).toMatchObject({ operation: 'markInUse' });
      expect(Date.now() - started).toBeLessThan(2 * 300 + 1500);
    });

    it('answers SERVICE_UNAVAILABLE for a refused request, the bucket or the credentials wrong', async () => {
      const wrongBucket = await failure(make({ bucket: 'not-the-bucket' }).put(`${user()}/x.png`, png(), 'image/png'));
      expect(wrongBucket.details).toMatchObject({ operation: 'put', s3Code: 'NoSuchBucket', s3Status: 404 });

      const secret = process.env.AWS_SECRET_ACCESS_KEY;
      process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret';
      try {
        // A new client reads the environment afresh, as a new container would.
        const err = await failure(make().list(`${user()}/`));
        expect(err.details).toMatchObject({ s3Code: 'SignatureDoesNotMatch', s3Status: 403 });
      } finally {
        process.env.AWS_SECRET_ACCESS_KEY = secret;
      }
    });

    it('answers SERVICE_UNAVAILABLE when marking a file that is not there', async () => {
      const err = await failure(store.markInUse(`${user()}/missing.png`));
      expect(err.details).toMatchObject({ operation: 'markInUse', s3Code: 'NoSuchKey' });
    });
  });
});
