// @ts-check
/**
 * The local stand-in for API Gateway's AWS_IAM authorization (`npm run dev`): serverless offline
 * 14 does not support `aws_iam` and would run such a route unauthenticated, so the service's
 * patch (patches/serverless-offline+14.8.2.patch) asks this module first for every route whose
 * authorizer is `aws_iam` (the /admin API, deploy/routes/admin.yml). A request must be signed
 * with AWS Signature Version 4 for the service `execute-api` under the local stack's credentials
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the offline process); anything else is refused
 * as API Gateway refuses it: 403 {"message":"Forbidden"}. A signed request gets the caller's
 * identity as `requestContext.authorizer.iam`, as AWS hands it to the function.
 *
 * Plain JavaScript (node:crypto only): serverless offline imports it as is.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** How far a request's X-Amz-Date may be from now, as AWS allows. */
export const MAX_SKEW_MS = 5 * 60 * 1000;
/** The account the local stack pretends to be. */
export const LOCAL_ACCOUNT = '000000000000';

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** @param {string | Buffer} data */
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
/** @param {string | Buffer} key @param {string} data */
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding, as SigV4 wants it. @param {string} text */
function encode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** @param {string} segment */
function decoded(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The canonical paths a signer may have used: each segment encoded once, or twice (AWS's rule
 * for every service but S3, which SDKs follow). @param {string} path
 */
function canonicalPaths(path) {
  const once = path
    .split('/')
    .map((segment) => encode(decoded(segment)))
    .join('/');
  const twice = once
    .split('/')
    .map((segment) => encode(segment))
    .join('/');
  return once === twice ? [once] : [once, twice];
}

/** @param {URLSearchParams} params */
function canonicalQuery(params) {
  return [...params]
    .map(([key, value]) => [encode(key), encode(value)])
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : x > y ? 1 : 0) : a < b ? -1 : 1))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

/**
 * @typedef {{ method: string; url: string; headers: Record<string, string | string[] | undefined>; body?: Buffer | string }} SignedRequest
 * @typedef {{ accessKeyId: string; secretAccessKey: string; region?: string; service?: string }} LocalCredentials
 * @typedef {{ accessKey: string; accountId: string; callerId: string; principalOrgId: null; userArn: string; userId: string; cognitoIdentity: null }} IamIdentity
 */

/**
 * Checks a request's SigV4 signature against the local credentials.
 * @param {SignedRequest} request method, path with query (as sent), headers (lower-case names), raw body
 * @param {LocalCredentials} credentials
 * @param {number} [now]
 * @returns {{ ok: true; iam: IamIdentity } | { ok: false; reason: string }}
 */
export function verifySigV4(request, credentials, now = Date.now()) {
  const header = (/** @type {string} */ name) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(',') : value;
  };
  const authorization = header('authorization');
  if (!authorization) return { ok: false, reason: 'no Authorization header: the admin API takes requests signed with SigV4 (AWS_IAM)' };
  const parts = AUTHORIZATION.exec(authorization.trim());
  if (!parts) return { ok: false, reason: 'the Authorization header is not a SigV4 signature (a session token gets nothing here)' };
  const [, accessKeyId, day, region, service, signedList, signature] = /** @type {string[]} */ (parts);
  const expectedService = credentials.service ?? 'execute-api';
  if (service !== expectedService) return { ok: false, reason: `signed for the service ${service}, not ${expectedService}` };
  if (accessKeyId !== credentials.accessKeyId) return { ok: false, reason: 'signed with another access key than the local stack’s' };
  if (credentials.region && region !== credentials.region) return { ok: false, reason: `signed for the region ${region}, not ${credentials.region}` };
  const amzDate = header('x-amz-date');
  const stamp = amzDate && /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!amzDate || !stamp) return { ok: false, reason: 'no X-Amz-Date header' };
  const at = Date.UTC(Number(stamp[1]), Number(stamp[2]) - 1, Number(stamp[3]), Number(stamp[4]), Number(stamp[5]), Number(stamp[6]));
  if (Math.abs(now - at) > MAX_SKEW_MS || amzDate.slice(0, 8) !== day) return { ok: false, reason: 'the signature has expired, or is dated in the future' };
  const signed = /** @type {string} */ (signedList).split(';');
  if (!signed.includes('host')) return { ok: false, reason: 'the signature does not cover the Host header' };
  const canonicalHeaders = signed.map((name) => `${name}:${(header(name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const url = new URL(request.url, 'http://local');
  const payloadHash = header('x-amz-content-sha256') && header('x-amz-content-sha256') !== 'UNSIGNED-PAYLOAD' ? /** @type {string} */ (header('x-amz-content-sha256')) : sha256(request.body ?? '');
  if (request.body !== undefined && payloadHash !== sha256(request.body)) return { ok: false, reason: 'X-Amz-Content-Sha256 is not the body’s' };
  const scope = `${day}/${region}/${service}/aws4_request`;
  let key = hmac(`AWS4${credentials.secretAccessKey}`, /** @type {string} */ (day));
  for (const part of [region, service, 'aws4_request']) key = hmac(key, /** @type {string} */ (part));
  const given = Buffer.from(/** @type {string} */ (signature), 'hex');
  for (const path of canonicalPaths(url.pathname)) {
    const canonical = [request.method.toUpperCase(), path, canonicalQuery(url.searchParams), canonicalHeaders, signedList, payloadHash].join('\n');
    const expected = hmac(key, ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n'));
    if (timingSafeEqual(expected, given)) {
      return {
        ok: true,
        iam: {
          accessKey: accessKeyId,
          accountId: LOCAL_ACCOUNT,
          callerId: accessKeyId,
          principalOrgId: null,
          userArn: `arn:aws:iam::${LOCAL_ACCOUNT}:user/local-operator`,
          userId: accessKeyId,
          cognitoIdentity: null,
        },
      };
    }
  }
  return { ok: false, reason: 'the signature does not match the request' };
}
