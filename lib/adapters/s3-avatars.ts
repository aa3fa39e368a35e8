import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { AppError } from '../errors';
import type { AvatarStore } from '../profile/ports';

export interface S3AvatarStoreOptions {
  bucket: string;
  /** Where the CDN serves the bucket's keys (AVATAR_BASE_URL), e.g. `https://img.example.com`. */
  publicBaseUrl: string;
  /** Local only: the S3 stand-in (local/s3.ts, S3_ENDPOINT). Path-style addressing then. */
  endpoint?: string;
  /** The limit of each attempt, connection included; a call makes at most two attempts. */
  timeoutMs: number;
}

/**
 * The tag the bucket's lifecycle rule (deploy/resources/avatars.yml, AvatarsBucket) expires after a day: an
 * upload is `pending` until the user row points at it, so the file of a request that failed in
 * between is removed without anyone listing the bucket.
 */
const PENDING = { Key: 'avatar', Value: 'pending' } as const;
const IN_USE = { Key: 'avatar', Value: 'in-use' } as const;

/**
 * Keys are unique per upload (`avatars/<userId>/<random>.<ext>`): the bytes under a key never
 * change, so a cache may keep them as long as it likes. CloudFront keeps its copy at most an
 * hour whatever this says (its cache policy's MaxTTL), which bounds how long a deleted avatar
 * is still served; a viewer that already has the file keeps it as this header allows.
 */
const CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** One attempt, then one retry: what lib/adapters/dynamodb.ts allows, for the same reason. */
const MAX_ATTEMPTS = 2;
/** DeleteObjects takes at most 1,000 keys per request. */
const DELETE_BATCH = 1000;

/**
 * The avatar files in S3. Build it once per container (in the avatar function's composition
 * root): the client and its keep-alive connections are reused by every invocation.
 *
 * Timeouts and retries. Each attempt has `timeoutMs` for the whole request, answer included
 * (`throwOnRequestTimeout`: without it the SDK only logs a warning), and the connection
 * `min(timeoutMs, 1 s)`; two attempts at most. A sick region then fails the upload with 503
 * in about twice `timeoutMs` rather than holding the request until the function times out.
 *
 * What the SDK retries (its standard mode): a timeout, a reset or refused connection, a 5xx
 * and S3's throttling answers (503 SlowDown). A retried request may be a second copy of one
 * S3 already applied, which is safe for every call here:
 * - PutObject carries `If-None-Match: *`: a second copy finds the first one's object and is
 *   refused (412), which `put` takes as done, since nobody else writes a fresh random key. So a
 *   late copy can never land after `markInUse` and turn an avatar in use back into `pending`
 *   (which the lifecycle rule would delete a day later).
 * - PutObjectTagging sets the whole tag set to the same value; ListObjectsV2 is a read;
 *   DeleteObjects of a key already gone reports it deleted.
 *
 * Every failure is a 503 SERVICE_UNAVAILABLE (details `store: 's3'`, the operation and S3's
 * error code). The SDK's message never reaches a log line or a client; the cause is logged by
 * name only (lib/errors.ts).
 *
 * Why the SDK's own HTTP handler, not the lean transport DynamoDB uses (lib/adapters/dynamodb.ts):
 * that one earns its place by the CPU it saves on every login (`npm run bench`). An avatar is
 * uploaded once in a while, so the SDK's handler, the one S3 is tested with, stays.
 */
export function createS3AvatarStore(options: S3AvatarStoreOptions): AvatarStore {
  const { bucket, timeoutMs } = options;
  const base = options.publicBaseUrl.replace(/\/+$/, '');
  const client = new S3Client({
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    maxAttempts: MAX_ATTEMPTS,
    // Build each command's middleware chain once, not on every send.
    cacheMiddleware: true,
    requestHandler: { connectionTimeout: Math.min(timeoutMs, 1000), requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  });

  async function call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw unavailable(operation, err);
    }
  }

  return {
    put: (key, body, contentType) =>
      call('put', async () => {
        try {
          await client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: body,
              ContentType: contentType,
              CacheControl: CACHE_CONTROL,
              Tagging: `${PENDING.Key}=${PENDING.Value}`,
              IfNoneMatch: '*',
            }),
          );
        } catch (err) {
          // Our own first attempt, applied by S3 after the SDK gave up waiting for its answer.
          if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 412) return;
          throw err;
        }
      }),

    copy: (from, to) =>
      call('copy', async () => {
        // Setting the same file again is the same however often it is sent.
        await client.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: `${bucket}/${from.split('/').map(encodeURIComponent).join('/')}`, TaggingDirective: 'COPY' }));
      }),

    markInUse: (key) =>
      call('markInUse', async () => {
        await client.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: key, Tagging: { TagSet: [{ ...IN_USE }] } }));
      }),

    list: (prefix, options) =>
      call('list', async () => {
        const keys: string[] = [];
        let token: string | undefined;
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
          for (const object of page.Contents ?? []) {
            if (object.Key === undefined) continue;
            if (options?.modifiedBefore !== undefined && !(object.LastModified && object.LastModified.getTime() < options.modifiedBefore)) continue;
            keys.push(object.Key);
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return keys;
      }),

    delete: (keys) =>
      call('delete', async () => {
        for (let i = 0; i < keys.length; i += DELETE_BATCH) {
          const batch = keys.slice(i, i + DELETE_BATCH);
          // Quiet: S3 answers the failures only. A key already gone is not one of them.
          const result = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
          // DeleteObjects answers 200 even when some keys were refused (AccessDenied, …).
          const refused = result.Errors ?? [];
          if (refused.length > 0) throw unavailable('delete', undefined, { s3Code: refused[0]!.Code, refused: refused.length });
        }
      }),

    urlOf: (key) => `${base}/${key.split('/').map(encodeURIComponent).join('/')}`,
  };
}

function unavailable(operation: string, cause: unknown, extra: Record<string, unknown> = {}): AppError {
  const s3 = cause instanceof S3ServiceException ? { s3Code: cause.name, s3Status: cause.$metadata.httpStatusCode } : {};
  return new AppError('SERVICE_UNAVAILABLE', `The avatar store failed (${operation}).`, {
    ...(cause === undefined ? {} : { cause }),
    details: { store: 's3', operation, ...s3, ...extra },
  });
}
