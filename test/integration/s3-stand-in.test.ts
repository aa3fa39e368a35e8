import {
  DeleteObjectsCommand,
  GetObjectCommand,
  GetBucketLocationCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3, type RunningS3 } from '../../local/s3';

/**
 * The S3 stand-in refuses what S3 would refuse on the calls it serves, so a mistake in how the
 * adapter signs or shapes a request fails here rather than in AWS.
 */
describe('S3 stand-in (integration)', () => {
  const credentials = { accessKeyId: 'local-key', secretAccessKey: 'local-secret' };
  let s3: RunningS3;
  const client = (config: Partial<S3ClientConfig> = {}) =>
    new S3Client({ endpoint: s3.url, forcePathStyle: true, region: 'us-east-1', credentials, maxAttempts: 1, ...config });
  /**
   * A client whose requests `change` after they were signed (what a proxy or a bug might do),
   * or before, so that the signature holds and the checks behind it are reached.
   */
  function tampering(when: 'signed' | 'before signing', change: (request: { headers: Record<string, string>; body?: unknown }) => void): S3Client {
    const c = client();
    const middleware = (next: (args: any) => Promise<any>) => async (args: any) => {
      change(args.request);
      return next(args);
    };
    if (when === 'signed') c.middlewareStack.add(middleware, { step: 'deserialize', name: 'tamper' });
    else c.middlewareStack.addRelativeTo(middleware, { relation: 'before', toMiddleware: 'httpSigningMiddleware', name: 'tamper' });
    return c;
  }
  const errorName = (call: Promise<unknown>) => call.then(() => 'no error', (err: Error) => err.name);

  beforeAll(async () => {
    // The template's rule for the avatars bucket (deploy/resources/avatars.yml), as local/template.ts reads it.
    s3 = await startS3({ bucket: 'b', region: 'us-east-1', credentials, lifecycle: [{ id: 'expire-pending-avatars', prefix: 'avatars/', tags: { avatar: 'pending' }, expirationInDays: 1 }] });
  });
  afterAll(() => s3?.close());

  it('takes a request signed with its credentials and region', async () => {
    await client().send(new PutObjectCommand({ Bucket: 'b', Key: 'k1', Body: new Uint8Array([1]), ContentType: 'image/png' }));
    expect(s3.object('k1')?.contentType).toBe('image/png');
  });

  it('refuses a wrong secret, another key id, another region and an unsigned write', async () => {
    const put = (c: S3Client) => errorName(c.send(new PutObjectCommand({ Bucket: 'b', Key: 'k2', Body: new Uint8Array([1]) })));
    expect(await put(client({ credentials: { ...credentials, secretAccessKey: 'other' } }))).toBe('SignatureDoesNotMatch');
    expect(await put(client({ credentials: { ...credentials, accessKeyId: 'other' } }))).toBe('InvalidAccessKeyId');
    expect(await put(client({ region: 'eu-west-1' }))).toBe('AuthorizationHeaderMalformed');
    expect((await fetch(`${s3.url}/b/k2`, { method: 'PUT', body: 'x' })).status).toBe(403);
    expect(s3.object('k2')).toBeUndefined();
  });

  it('refuses a body that is not the one signed, or whose checksum does not match', async () => {
    const put = (c: S3Client) => errorName(c.send(new PutObjectCommand({ Bucket: 'b', Key: 'k3', Body: new Uint8Array([1, 2, 3]) })));
    expect(await put(tampering('signed', (r) => void (r.body = new Uint8Array([9, 9, 9]))))).toBe('XAmzContentSHA256Mismatch');
    expect(await put(tampering('signed', (r) => void (r.headers['x-amz-checksum-crc32'] = 'AAAAAA==')))).toBe('SignatureDoesNotMatch');
    expect(await put(tampering('before signing', (r) => void (r.headers['x-amz-checksum-crc32'] = 'AAAAAA==')))).toBe('BadDigest');
    expect(s3.object('k3')).toBeUndefined();
  });

  it('refuses DeleteObjects without a checksum header, as S3 does', async () => {
    const stripped = tampering('before signing', (r) => {
      for (const name of Object.keys(r.headers)) if (/^(x-amz-checksum-|x-amz-sdk-checksum-|content-md5)/i.test(name)) delete r.headers[name];
    });
    expect(await errorName(stripped.send(new DeleteObjectsCommand({ Bucket: 'b', Delete: { Objects: [{ Key: 'k1' }] } })))).toBe('InvalidRequest');
    expect(s3.object('k1')).toBeDefined();
  });

  it('holds tags to S3’s rules: at most 10, no key twice', async () => {
    const tagged = (Tagging: string) => errorName(client().send(new PutObjectCommand({ Bucket: 'b', Key: 'k4', Body: new Uint8Array([1]), Tagging })));
    expect(await tagged(Array.from({ length: 11 }, (_, i) => `t${i}=v`).join('&'))).toBe('BadRequest');
    expect(await tagged('a=1&a=2')).toBe('InvalidTag');
    expect(await tagged('avatar=pending')).toBe('no error');
    expect(s3.object('k4')?.tags).toEqual({ avatar: 'pending' });
  });

  it('answers a missing key 404 NoSuchKey when signed and 403 unsigned, as the CDN would see it', async () => {
    expect(await errorName(client().send(new GetObjectCommand({ Bucket: 'b', Key: 'nothing' })))).toBe('NoSuchKey');
    expect((await fetch(`${s3.publicUrl}/nothing`)).status).toBe(403);
  });

  it('expires what its lifecycle rule names, as S3 would: tagged pending under avatars/, a day on, rounded up to midnight UTC', async () => {
    const put = (key: string, tag: string) => client().send(new PutObjectCommand({ Bucket: 'b', Key: key, Body: 'x', Tagging: `avatar=${tag}` }));
    await put('avatars/u1/pending.png', 'pending');
    await put('avatars/u1/kept.png', 'in-use');
    await put('elsewhere/pending.png', 'pending');
    const written = s3.object('avatars/u1/pending.png')!.lastModified.getTime();
    const due = Math.ceil((written + 86_400_000) / 86_400_000) * 86_400_000;
    expect(s3.expire(new Date(due - 1))).toEqual([]);
    expect(s3.expire(new Date(due))).toEqual(['avatars/u1/pending.png']);
    expect(s3.keys()).toEqual(expect.arrayContaining(['avatars/u1/kept.png', 'elsewhere/pending.png']));
    expect(s3.keys()).not.toContain('avatars/u1/pending.png');
  });

  it('says NotImplemented for a call it does not serve, rather than answering something S3 would not', async () => {
    expect(await errorName(client().send(new ListObjectsCommand({ Bucket: 'b' })))).toBe('NotImplemented');
    expect(await errorName(client().send(new GetBucketLocationCommand({ Bucket: 'b' })))).toBe('NotImplemented');
    expect(await errorName(client().send(new PutObjectCommand({ Bucket: 'other', Key: 'k', Body: new Uint8Array([1]) })))).toBe('NoSuchBucket');
  });
});
