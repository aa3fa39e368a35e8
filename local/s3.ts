import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '../lib/adapters/aws-json';
import type { LifecycleRule } from './template';
import { listen, readBody, type RunningServer } from './http-util';

/**
 * A stand-in for the avatars bucket: the eight S3 calls lib/adapters/s3-avatars.ts makes, in
 * memory, on a free port, plus an unsigned GET of an object as the CDN serves it.
 *
 *   PUT    /bucket/key               PutObject (Content-Type, Cache-Control, x-amz-tagging, If-None-Match: *)
 *   PUT    /bucket/key + x-amz-copy-source: /bucket/other    CopyObject within the bucket (tags copied or replaced)
 *   PUT    /bucket/key?tagging       PutObjectTagging      GET /bucket/key?tagging   GetObjectTagging
 *   GET    /bucket/?list-type=2      ListObjectsV2 (prefix, max-keys, continuation-token, start-after)
 *   POST   /bucket/?delete           DeleteObjects         DELETE /bucket/key        DeleteObject
 *   GET    /bucket/key, HEAD         the object, signed or not (the CDN's view: a missing key is 403)
 *
 * Why our own and not s3rver. s3rver 3.7.1 has had no release since 2021 and pins old busboy
 * and fast-xml-parser; its maintained fork, @20minutes/s3rver 4.0.4, was tried first, with
 * @aws-sdk/client-s3 3.1169 path-style, and (a) ignores `x-amz-tagging` on PutObject (tags only
 * through ?tagging), (b) answers SignatureDoesNotMatch to every bucket-level request the SDK
 * sends (ListObjectsV2, DeleteObjects: it signs `/bucket`, the SDK `/bucket/`), (c) knows only
 * its own S3RVER key, and (d) keeps a deleted object's tags for the next object at that key.
 * Making it fit meant patching its signature check and reaching into Koa's middleware list
 * and its account registry: more code, and less clear about what it checks, than this file.
 * Other npm emulators (serverless-s3-local, smarts3) wrap s3rver; LocalStack, MinIO and
 * S3Mock are not npm packages.
 *
 * Like local/upstash-gateway.ts for Upstash, it refuses what it does not implement (501
 * NotImplemented, naming what) instead of answering something S3 would not, and it checks
 * what S3 checks on these calls: the SigV4 signature (verified with the SDK's own signer
 * against the stack's credentials and region), the payload's SHA-256, Content-MD5 and CRC32
 * checksums, the tag rules (at most 10, key 1–128, value 0–256 characters, no duplicate),
 * DeleteObjects' required checksum header and 1,000-key cap, and If-None-Match on PutObject.
 */
export type S3Operation =
  | 'PutObject'
  | 'PutObjectTagging'
  | 'GetObjectTagging'
  | 'ListObjectsV2'
  | 'DeleteObjects'
  | 'DeleteObject'
  | 'GetObject';

export type S3Fault = 'error' | 'hang' | 'drop' | 'lose-answer';

export interface StoredObject {
  body: Buffer;
  contentType: string;
  cacheControl: string | undefined;
  etag: string;
  lastModified: Date;
  tags: Record<string, string>;
}

export interface RunningS3 extends RunningServer {
  bucket: string;
  /** The bucket's objects over plain GET, `${url}/${bucket}`: what AVATAR_BASE_URL is locally. */
  publicUrl: string;
  stats: { requests: number; operations: Partial<Record<S3Operation, number>> };
  resetStats(): void;
  /** What the bucket holds under `key`, for assertions. */
  object(key: string): StoredObject | undefined;
  keys(): string[];
  /**
   * Fault injection for the next `count` requests of `operation`: `error` answers 503 SlowDown
   * (which the SDK retries), `hang` never answers, `drop` closes the connection, each without
   * applying the request; `lose-answer` applies it and then closes the connection instead of
   * answering (a timeout after S3 did the work).
   */
  failNext(operation: S3Operation, count?: number, fault?: S3Fault): void;
  /** The bucket's lifecycle rules, as the template declares them (local/template.ts). */
  lifecycle: readonly LifecycleRule[];
  /**
   * Applies the lifecycle's expirations as S3 would at `now`: an object whose key starts with
   * a rule's prefix and whose tags hold all of the rule's is removed once `now` reaches its
   * last modification plus the rule's days, rounded up to midnight UTC. S3 runs this about once a
   * day on its own; the stand-in only when asked. Returns the keys removed.
   */
  expire(now?: Date): string[];
}

export interface S3StandInOptions {
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The bucket's lifecycle rules with an expiration (the template's; none by default). */
  lifecycle?: readonly LifecycleRule[];
  port?: number;
}

/** 16 MiB: far above any avatar (the function takes 1 MiB by default, 4 MiB at most), and a bound on memory. */
const MAX_BODY = 16 * 1024 * 1024;
/** S3 refuses a request signed more than 15 minutes from its clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;
const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

class S3Failure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const notImplemented = (what: string) => new S3Failure(501, 'NotImplemented', `The S3 stand-in (local/s3.ts) does not implement ${what}.`);

export async function startS3(options: S3StandInOptions): Promise<RunningS3> {
  const objects = new Map<string, StoredObject>();
  const stats: RunningS3['stats'] = { requests: 0, operations: {} };
  const faults: { operation: S3Operation; count: number; fault: S3Fault }[] = [];
  const signer = new SignatureV4({
    service: 's3',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
    // S3 signs the path as sent: no second escaping, no normalisation (the SDK's S3 signer does the same).
    uriEscapePath: false,
    applyChecksum: false,
  });

  const server = http.createServer(async (req, res) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    try {
      stats.requests++;
      const { path, query } = splitUrl(req.url ?? '/');
      const { bucket, key } = splitPath(path);
      const body = await readBody(req, MAX_BODY).catch(() => {
        throw new S3Failure(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.');
      });
      const operation = operationOf(req.method ?? 'GET', key, query);
      const signed = req.headers.authorization !== undefined;
      // The CDN reads objects without signing (origin access control signs for it in AWS).
      if (signed || operation !== 'GetObject') await verifySignature(req, path, query, body);
      if (bucket !== options.bucket) throw new S3Failure(404, 'NoSuchBucket', 'The specified bucket does not exist');
      stats.operations[operation] = (stats.operations[operation] ?? 0) + 1;

      const fault = faults.find((f) => f.operation === operation && f.count > 0);
      if (fault) fault.count--;
      if (fault?.fault === 'hang') return; // closeAllConnections() ends it on close
      if (fault?.fault === 'drop') return void req.socket.destroy();
      if (fault?.fault === 'error') throw new S3Failure(503, 'SlowDown', 'Please reduce your request rate.');

      const reply = apply(req, operation, key, query, body, signed);
      if (fault?.fault === 'lose-answer') return void req.socket.destroy();
      res.writeHead(reply.status, { ...reply.headers, 'content-length': reply.body?.length ?? 0 });
      res.end(req.method === 'HEAD' ? undefined : reply.body);
    } catch (err) {
      const failure = err instanceof S3Failure ? err : new S3Failure(500, 'InternalError', 'We encountered an internal error. Please try again.');
      if (res.headersSent) return void res.destroy();
      const reply = xmlReply(failure.status, `<Error><Code>${failure.code}</Code><Message>${xml(failure.message)}</Message><RequestId>${requestId}</RequestId></Error>`);
      res.writeHead(reply.status, { ...reply.headers, 'content-length': reply.body!.length });
      res.end(req.method === 'HEAD' ? undefined : reply.body);
    }
  });

  function apply(req: http.IncomingMessage, operation: S3Operation, key: string | undefined, query: Query, body: Buffer, signed: boolean): Reply {
    switch (operation) {
      case 'PutObject':
        return putObject(req, key!, body);
      case 'PutObjectTagging': {
        const object = existing(key!);
        object.tags = parseTagging(body.toString('utf8'));
        return { status: 200 };
      }
      case 'GetObjectTagging':
        return xmlReply(200, `<Tagging xmlns="${XMLNS}"><TagSet>${tagSetXml(existing(key!).tags)}</TagSet></Tagging>`);
      case 'ListObjectsV2':
        return listObjects(query);
      case 'DeleteObjects':
        return deleteObjects(req, body);
      case 'DeleteObject':
        objects.delete(key!);
        return { status: 204 };
      case 'GetObject':
        return getObject(key!, signed);
    }
  }

  function existing(key: string): StoredObject {
    const object = objects.get(key);
    if (!object) throw new S3Failure(404, 'NoSuchKey', 'The specified key does not exist.');
    return object;
  }

  function putObject(req: http.IncomingMessage, key: string, body: Buffer): Reply {
    const copySource = req.headers['x-amz-copy-source'];
    if (typeof copySource === 'string') return copyObject(req, key, copySource);
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch !== undefined && ifNoneMatch !== '*') throw notImplemented(`If-None-Match other than '*'`);
    if (req.headers['if-match'] !== undefined) throw notImplemented('If-Match');
    verifyChecksums(req, body);
    const header = req.headers['x-amz-tagging'];
    const tags = typeof header === 'string' ? parseTagHeader(header) : {};
    // Checked after everything else, so a refused write leaves the bucket as it was.
    if (ifNoneMatch === '*' && objects.has(key)) throw new S3Failure(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    // A PUT replaces the object whole, its tags included (none unless the request gives some).
    objects.set(key, {
      body,
      contentType: String(req.headers['content-type'] ?? 'binary/octet-stream'),
      cacheControl: req.headers['cache-control'],
      etag,
      lastModified: new Date(),
      tags,
    });
    return { status: 200, headers: { etag } };
  }

  /**
   * CopyObject within this bucket: the body, content type and cache control, and the tags
   * (x-amz-tagging-directive COPY, S3's default, or REPLACE with x-amz-tagging).
   */
  function copyObject(req: http.IncomingMessage, key: string, copySource: string): Reply {
    const source = decodeURIComponent(copySource.split('?')[0]!).replace(/^\//, '');
    const slash = source.indexOf('/');
    if (slash < 0 || source.slice(0, slash) !== options.bucket) throw notImplemented('CopyObject from another bucket');
    const from = existing(source.slice(slash + 1));
    const directive = String(req.headers['x-amz-tagging-directive'] ?? 'COPY').toUpperCase();
    const header = req.headers['x-amz-tagging'];
    const tags = directive === 'REPLACE' ? (typeof header === 'string' ? parseTagHeader(header) : {}) : { ...from.tags };
    const lastModified = new Date();
    objects.set(key, { ...from, body: Buffer.from(from.body), lastModified, tags });
    return {
      status: 200,
      headers: { 'content-type': 'application/xml' },
      body: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult><LastModified>${lastModified.toISOString()}</LastModified><ETag>${from.etag.replaceAll('"', '&quot;')}</ETag></CopyObjectResult>`),
    };
  }

  function getObject(key: string, signed: boolean): Reply {
    const object = objects.get(key);
    // Through CloudFront with origin access control the bucket grants s3:GetObject only, and S3
    // answers a missing key 403 (not 404) to whoever may not list the bucket.
    if (!object) throw signed ? new S3Failure(404, 'NoSuchKey', 'The specified key does not exist.') : new S3Failure(403, 'AccessDenied', 'Access Denied');
    return {
      status: 200,
      headers: {
        'content-type': object.contentType,
        // What the CDN adds in AWS (its managed security-headers policy, deploy/cdn/aws.yml).
        'x-content-type-options': 'nosniff',
        etag: object.etag,
        'last-modified': object.lastModified.toUTCString(),
        ...(object.cacheControl ? { 'cache-control': object.cacheControl } : {}),
      },
      body: object.body,
    };
  }

  function listObjects(query: Query): Reply {
    for (const name of Object.keys(query)) {
      if (!['list-type', 'prefix', 'max-keys', 'continuation-token', 'start-after', 'x-id'].includes(name)) throw notImplemented(`ListObjectsV2 with ${name}`);
    }
    const prefix = query.prefix ?? '';
    const maxKeys = query['max-keys'] === undefined ? 1000 : Number(query['max-keys']);
    if (!Number.isInteger(maxKeys) || maxKeys < 0) throw new S3Failure(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range');
    const token = query['continuation-token'];
    const after = token !== undefined ? decodeToken(token) : (query['start-after'] ?? '');
    // S3 lists keys in UTF-8 binary order.
    const matching = [...objects.keys()].filter((k) => k.startsWith(prefix) && compareUtf8(k, after) > 0).sort(compareUtf8);
    const page = matching.slice(0, Math.min(maxKeys, 1000));
    const truncated = page.length < matching.length;
    const contents = page
      .map((k) => {
        const o = objects.get(k)!;
        return `<Contents><Key>${xml(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xml(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
      })
      .join('');
    return xmlReply(
      200,
      `<ListBucketResult xmlns="${XMLNS}"><Name>${xml(options.bucket)}</Name><Prefix>${xml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount>` +
        `<MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}` +
        (token !== undefined ? `<ContinuationToken>${xml(token)}</ContinuationToken>` : '') +
        (truncated ? `<NextContinuationToken>${encodeToken(page.at(-1)!)}</NextContinuationToken>` : '') +
        '</ListBucketResult>',
    );
  }

  function deleteObjects(req: http.IncomingMessage, body: Buffer): Reply {
    if (!req.headers['content-md5'] && !Object.keys(req.headers).some((h) => h.startsWith('x-amz-checksum-'))) {
      throw new S3Failure(400, 'InvalidRequest', 'Missing required header for this request: Content-MD5');
    }
    verifyChecksums(req, body);
    const text = body.toString('utf8');
    if (!/^(<\?xml[^>]*\?>)?\s*<Delete[\s>]/.test(text)) throw malformed();
    const blocks = [...text.matchAll(/<Object>([\s\S]*?)<\/Object>/g)].map((m) => m[1]!);
    if (blocks.length === 0 || blocks.length > 1000) throw malformed();
    const keys = blocks.map((block) => {
      if (/<VersionId>/.test(block)) throw notImplemented('DeleteObjects with VersionId (the bucket is not versioned)');
      const key = elementText(block, 'Key');
      if (key === undefined) throw malformed();
      return key;
    });
    const quiet = elementText(text, 'Quiet') === 'true';
    // A key that is not there counts as deleted, as in S3.
    for (const key of keys) objects.delete(key);
    const deleted = quiet ? '' : keys.map((k) => `<Deleted><Key>${xml(k)}</Key></Deleted>`).join('');
    return xmlReply(200, `<DeleteResult xmlns="${XMLNS}">${deleted}</DeleteResult>`);
  }

  async function verifySignature(req: http.IncomingMessage, path: string, query: Query, body: Buffer) {
    const header = String(req.headers.authorization ?? '');
    const parts = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/([^/,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(header);
    if (!parts) throw new S3Failure(403, 'AccessDenied', 'Access Denied (the stand-in takes SigV4 in the Authorization header only)');
    const [, accessKeyId, , region, service, signedHeaders] = parts as unknown as string[];
    if (accessKeyId !== options.credentials.accessKeyId) throw new S3Failure(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    if (region !== options.region) throw new S3Failure(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${region}' is wrong; expecting '${options.region}'`);
    if (service !== 's3') throw new S3Failure(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; incorrect service "${service}". This endpoint belongs to "s3".`);
    const names = signedHeaders!.split(';');
    for (const required of ['host', 'x-amz-date', 'x-amz-content-sha256']) {
      if (!names.includes(required)) throw new S3Failure(403, 'AccessDenied', `Access Denied (${required} is not signed)`);
    }
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(req.headers['x-amz-date']));
    if (!date) throw new S3Failure(403, 'AccessDenied', 'Access Denied (x-amz-date)');
    const signingDate = new Date(Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!));
    if (Math.abs(Date.now() - signingDate.getTime()) > MAX_SKEW_MS) throw new S3Failure(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');

    const contentSha256 = String(req.headers['x-amz-content-sha256']);
    if (contentSha256.startsWith('STREAMING-')) throw notImplemented('aws-chunked (streaming) uploads');
    if (contentSha256 !== 'UNSIGNED-PAYLOAD' && contentSha256 !== createHash('sha256').update(body).digest('hex')) {
      throw new S3Failure(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
    const headers = Object.fromEntries(names.map((name) => [name, String(req.headers[name] ?? '')]));
    const expected = await signer.sign({ method: req.method ?? 'GET', protocol: 'http:', hostname: String(req.headers.host), path, query, headers }, { signingDate });
    if (expected.headers.authorization?.replace(/, /g, ',') !== header.replace(/, /g, ',')) {
      throw new S3Failure(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
    }
  }

  const running = await listen(server, options.port);
  return {
    ...running,
    bucket: options.bucket,
    publicUrl: `${running.url}/${options.bucket}`,
    stats,
    resetStats() {
      stats.requests = 0;
      stats.operations = {};
    },
    object: (key) => objects.get(key),
    keys: () => [...objects.keys()].sort(compareUtf8),
    failNext(operation, count = 1, fault = 'error') {
      faults.push({ operation, count, fault });
    },
    lifecycle: options.lifecycle ?? [],
    expire(now = new Date()) {
      const removed: string[] = [];
      for (const [key, object] of objects) {
        const due = (options.lifecycle ?? []).some((rule) => {
          if (rule.expirationInDays === undefined || !key.startsWith(rule.prefix)) return false;
          if (!Object.entries(rule.tags).every(([name, value]) => object.tags[name] === value)) return false;
          // S3 adds the days to the object's creation and rounds up to the next midnight UTC.
          const due = Math.ceil((object.lastModified.getTime() + rule.expirationInDays * 86_400_000) / 86_400_000) * 86_400_000;
          return now.getTime() >= due;
        });
        if (due) removed.push(key);
      }
      for (const key of removed) objects.delete(key);
      return removed;
    },
  };
}

type Query = Record<string, string>;

/** The path exactly as sent (the signature covers it so) and the query decoded. */
function splitUrl(url: string): { path: string; query: Query } {
  const mark = url.indexOf('?');
  const path = mark === -1 ? url : url.slice(0, mark);
  const query: Query = {};
  if (mark !== -1) {
    for (const pair of url.slice(mark + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const name = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
      if (name in query) throw notImplemented(`a repeated query parameter (${name})`);
      query[name] = eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1));
    }
  }
  return { path, query };
}

/** Path-style addressing only: `/bucket`, `/bucket/`, `/bucket/key…`. */
function splitPath(path: string): { bucket: string; key: string | undefined } {
  const [, bucket = '', rest] = /^\/([^/]*)(?:\/(.*))?$/.exec(path) ?? [];
  if (!bucket) throw notImplemented('requests without a bucket in the path (ListBuckets, virtual-hosted style)');
  return { bucket: decodeURIComponent(bucket), key: rest ? decodeURIComponent(rest) : undefined };
}

function operationOf(method: string, key: string | undefined, query: Query): S3Operation {
  const { 'x-id': _id, ...rest } = query;
  const names = Object.keys(rest);
  if (key === undefined) {
    if (method === 'GET' && rest['list-type'] === '2') return 'ListObjectsV2';
    if (method === 'POST' && names.length === 1 && 'delete' in rest) return 'DeleteObjects';
    throw notImplemented(`${method} on the bucket${names.length ? ` with ?${names.join('&')}` : ''}`);
  }
  if (names.length === 1 && 'tagging' in rest) {
    if (method === 'PUT') return 'PutObjectTagging';
    if (method === 'GET') return 'GetObjectTagging';
  }
  if (names.length === 0) {
    if (method === 'PUT') return 'PutObject';
    if (method === 'GET' || method === 'HEAD') return 'GetObject';
    if (method === 'DELETE') return 'DeleteObject';
  }
  throw notImplemented(`${method} on an object${names.length ? ` with ?${names.join('&')}` : ''}`);
}

/** Content-MD5 and the flexible checksums the SDK sends (CRC32 by default), each checked against the body. */
function verifyChecksums(req: http.IncomingMessage, body: Buffer) {
  const bad = () => new S3Failure(400, 'BadDigest', 'The Content-MD5 or checksum value that you specified did not match what the server received.');
  const md5 = req.headers['content-md5'];
  if (md5 !== undefined && md5 !== createHash('md5').update(body).digest('base64')) throw bad();
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith('x-amz-checksum-') || name === 'x-amz-checksum-type') continue;
    const algorithm = name.slice('x-amz-checksum-'.length);
    let actual: string;
    if (algorithm === 'crc32') {
      const digest = Buffer.alloc(4);
      digest.writeUInt32BE(crc32(body));
      actual = digest.toString('base64');
    } else if (algorithm === 'sha256' || algorithm === 'sha1') actual = createHash(algorithm).update(body).digest('base64');
    else throw notImplemented(`the ${algorithm} checksum`);
    if (value !== actual) throw bad();
  }
}

const invalidTag = (message: string) => new S3Failure(400, 'InvalidTag', message);
const malformed = () => new S3Failure(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');

/** S3's rules for an object's tags. */
function checkTags(pairs: [string, string][]): Record<string, string> {
  if (pairs.length > 10) throw new S3Failure(400, 'BadRequest', 'Object tags cannot be greater than 10');
  const tags: Record<string, string> = {};
  for (const [key, value] of pairs) {
    if (key.length < 1 || key.length > 128) throw invalidTag('The TagKey you have provided is invalid');
    if (value.length > 256) throw invalidTag('The TagValue you have provided is invalid');
    if (key in tags) throw invalidTag('Cannot provide multiple Tags with the same key');
    tags[key] = value;
  }
  return tags;
}

/** `x-amz-tagging: k1=v1&k2=v2`, URL-encoded. */
function parseTagHeader(header: string): Record<string, string> {
  const pairs = header.split('&').filter(Boolean).map((pair): [string, string] => {
    const eq = pair.indexOf('=');
    return eq === -1 ? [decodeURIComponent(pair), ''] : [decodeURIComponent(pair.slice(0, eq)), decodeURIComponent(pair.slice(eq + 1))];
  });
  return checkTags(pairs);
}

/** PutObjectTagging's `<Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>`. */
function parseTagging(text: string): Record<string, string> {
  if (!/^(<\?xml[^>]*\?>)?\s*<Tagging[\s>]/.test(text) || !/<TagSet\s*\/?>/.test(text)) throw malformed();
  const pairs = [...text.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)].map((m): [string, string] => {
    const key = elementText(m[1]!, 'Key');
    const value = elementText(m[1]!, 'Value');
    if (key === undefined || value === undefined) throw malformed();
    return [key, value];
  });
  return checkTags(pairs);
}

function tagSetXml(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([key, value]) => `<Tag><Key>${xml(key)}</Key><Value>${xml(value)}</Value></Tag>`)
    .join('');
}

/** The text of the first `<name>…</name>` (or `<name/>`) in `text`, entities decoded. */
function elementText(text: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>|<${name}\\s*/>`).exec(text);
  if (!match) return undefined;
  return (match[1] ?? '').replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[entity]!;
  });
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const compareUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const encodeToken = (key: string) => Buffer.from(key).toString('base64url');
function decodeToken(token: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(token)) throw new S3Failure(400, 'InvalidArgument', 'The continuation token provided is incorrect');
  return Buffer.from(token, 'base64url').toString('utf8');
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer;
}

function xmlReply(status: number, document: string): Reply {
  return { status, headers: { 'content-type': 'application/xml' }, body: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${document}`) };
}

