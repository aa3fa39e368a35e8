import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { createS3AvatarStore } from '../../lib/adapters/s3-avatars';

const s3Mock = mockClient(S3Client);
const options = { bucket: 'avatars-bucket', publicBaseUrl: 'https://img.example.com', timeoutMs: 1000 };

/** An error as the SDK throws it for an S3 error answer. */
function s3Error(name: string, status: number, message = `${name}: S3's own words, with the bucket avatars-bucket`) {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message });
}

async function rejection(call: Promise<unknown>): Promise<AppError> {
  const err = await call.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('SERVICE_UNAVAILABLE');
  expect((err as AppError).message).not.toContain('S3\'s own words');
  return err as AppError;
}

describe('Function: createS3AvatarStore', () => {
  afterEach(() => {
    s3Mock.reset();
  });

  describe('Method: put', () => {
    it('uploads with its content type, a cache lifetime for immutable keys, the pending tag, and only if the key is free', async () => {
      // Prepare
      s3Mock.on(PutObjectCommand).resolves({});
      const body = new Uint8Array([1, 2, 3]);

      // Act
      await createS3AvatarStore(options).put('avatars/u1/abc.png', body, 'image/png');

      // Assess
      expect(s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input)).toEqual([
        {
          Bucket: 'avatars-bucket',
          Key: 'avatars/u1/abc.png',
          Body: body,
          ContentType: 'image/png',
          CacheControl: 'public, max-age=31536000, immutable',
          Tagging: 'avatar=pending',
          IfNoneMatch: '*',
        },
      ]);
    });

    it('takes 412 PreconditionFailed as done: the object at a fresh key is its own earlier attempt', async () => {
      s3Mock.on(PutObjectCommand).rejects(s3Error('PreconditionFailed', 412));
      await expect(createS3AvatarStore(options).put('avatars/u1/abc.png', new Uint8Array([1]), 'image/png')).resolves.toBeUndefined();
    });

    it('turns any other failure into SERVICE_UNAVAILABLE with the S3 code in its details, never S3’s message', async () => {
      s3Mock.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));
      const err = await rejection(createS3AvatarStore(options).put('avatars/u1/abc.png', new Uint8Array([1]), 'image/png'));
      expect(err.details).toEqual({ store: 's3', operation: 'put', s3Code: 'AccessDenied', s3Status: 403 });
      expect(err.cause).toBeInstanceOf(S3ServiceException);
    });

    it('turns a transport failure (no S3 answer at all) into SERVICE_UNAVAILABLE too', async () => {
      s3Mock.on(PutObjectCommand).rejects(Object.assign(new Error('socket hang up at 10.0.0.1'), { code: 'ECONNRESET' }));
      const err = await rejection(createS3AvatarStore(options).put('avatars/u1/abc.png', new Uint8Array([1]), 'image/png'));
      expect(err.details).toEqual({ store: 's3', operation: 'put' });
      expect(err.message).not.toContain('10.0.0.1');
    });
  });

  describe('Method: markInUse', () => {
    it('replaces the tag set with avatar=in-use', async () => {
      s3Mock.on(PutObjectTaggingCommand).resolves({});
      await createS3AvatarStore(options).markInUse('avatars/u1/abc.png');
      expect(s3Mock.commandCalls(PutObjectTaggingCommand)[0]!.args[0].input).toEqual({
        Bucket: 'avatars-bucket',
        Key: 'avatars/u1/abc.png',
        Tagging: { TagSet: [{ Key: 'avatar', Value: 'in-use' }] },
      });
    });

    it('fails with SERVICE_UNAVAILABLE when the file is not there', async () => {
      s3Mock.on(PutObjectTaggingCommand).rejects(s3Error('NoSuchKey', 404));
      const err = await rejection(createS3AvatarStore(options).markInUse('avatars/u1/gone.png'));
      expect(err.details).toMatchObject({ operation: 'markInUse', s3Code: 'NoSuchKey' });
    });
  });

  describe('Method: list', () => {
    it('follows continuation tokens until the listing is complete', async () => {
      s3Mock
        .on(ListObjectsV2Command, { Prefix: 'avatars/u1/' })
        .resolvesOnce({ Contents: [{ Key: 'avatars/u1/a.png' }], IsTruncated: true, NextContinuationToken: 't1' })
        .resolvesOnce({ Contents: [{ Key: 'avatars/u1/b.png' }], IsTruncated: false });
      expect(await createS3AvatarStore(options).list('avatars/u1/')).toEqual(['avatars/u1/a.png', 'avatars/u1/b.png']);
      expect(s3Mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([
        { Bucket: 'avatars-bucket', Prefix: 'avatars/u1/' },
        { Bucket: 'avatars-bucket', Prefix: 'avatars/u1/', ContinuationToken: 't1' },
      ]);
    });

    it('answers an empty list for an empty prefix listing', async () => {
      s3Mock.on(ListObjectsV2Command).resolves({ KeyCount: 0, IsTruncated: false });
      expect(await createS3AvatarStore(options).list('avatars/nobody/')).toEqual([]);
    });
  });

  describe('Method: delete', () => {
    it('sends nothing for no keys', async () => {
      await createS3AvatarStore(options).delete([]);
      expect(s3Mock.calls()).toHaveLength(0);
    });

    it('deletes in quiet batches of at most 1,000 keys (DeleteObjects’ limit)', async () => {
      s3Mock.on(DeleteObjectsCommand).resolves({});
      const keys = Array.from({ length: 1001 }, (_, i) => `avatars/u1/${i}.png`);
      await createS3AvatarStore(options).delete(keys);
      const inputs = s3Mock.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input);
      expect(inputs.map((input) => input.Delete!.Objects!.length)).toEqual([1000, 1]);
      expect(inputs.every((input) => input.Bucket === 'avatars-bucket' && input.Delete!.Quiet === true)).toBe(true);
      expect(inputs.flatMap((input) => input.Delete!.Objects!.map((o) => o.Key))).toEqual(keys);
    });

    it('fails with SERVICE_UNAVAILABLE when S3 answers 200 but refused some keys', async () => {
      s3Mock.on(DeleteObjectsCommand).resolves({ Errors: [{ Key: 'avatars/u1/a.png', Code: 'AccessDenied', Message: 'Access Denied' }] });
      const err = await rejection(createS3AvatarStore(options).delete(['avatars/u1/a.png', 'avatars/u1/b.png']));
      expect(err.details).toEqual({ store: 's3', operation: 'delete', s3Code: 'AccessDenied', refused: 1 });
    });
  });

  describe('Method: urlOf', () => {
    it('is the public base URL and the key', () => {
      expect(createS3AvatarStore(options).urlOf('avatars/u1/abc.png')).toBe('https://img.example.com/avatars/u1/abc.png');
    });

    it('takes a base URL with a trailing slash and escapes what a key’s segments may hold', () => {
      const store = createS3AvatarStore({ ...options, publicBaseUrl: 'http://127.0.0.1:4000/bucket/' });
      expect(store.urlOf('avatars/u 1/a+b.png')).toBe('http://127.0.0.1:4000/bucket/avatars/u%201/a%2Bb.png');
    });
  });
});
