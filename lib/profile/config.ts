import { settings, type Env } from '../config';

/** Where avatars are stored and served from (the avatar function; /user/me only needs the URL). */
export interface AvatarConfig {
  bucket: string;
  /** The CDN's URL for the bucket (the operator's filed domain in production; the stand-in locally). */
  publicBaseUrl: string;
  /** Only set locally (the S3 stand-in). */
  endpoint: string | undefined;
  maxBytes: number;
  timeoutMs: number;
  /** Uploads per user per fixed window (AVATAR_UPLOAD_LIMIT, AVATAR_UPLOAD_WINDOW_SECONDS); 0 turns it off. */
  limit: { limit: number; windowSeconds: number };
}

export function loadAvatarConfig(env: Env = process.env): AvatarConfig {
  const s = settings(env);
  return {
    bucket: s.required('AVATAR_BUCKET'),
    publicBaseUrl: s.url('AVATAR_BASE_URL'),
    endpoint: s.optionalUrl('S3_ENDPOINT'),
    // Base64 in Lambda's 6 MB event, with the multipart around it: 4 MiB at most.
    maxBytes: s.integer('AVATAR_MAX_BYTES', 1024 * 1024, 1024, 4 * 1024 * 1024),
    // Two attempts of this for each of four S3 requests, with the row write, inside the avatar
    // function's 28 s (deploy/routes/avatar.yml).
    timeoutMs: s.integer('S3_TIMEOUT_MS', 2000, 100, 2500),
    limit: {
      limit: s.integer('AVATAR_UPLOAD_LIMIT', 20, 0, 10_000),
      windowSeconds: s.integer('AVATAR_UPLOAD_WINDOW_SECONDS', 3600, 60, 86_400),
    },
  };
}

/** How a stored avatar key becomes a URL, for functions that only show avatars; undefined when not configured. */
export function loadAvatarUrl(env: Env = process.env): ((key: string) => string) | undefined {
  const publicBaseUrl = settings(env).optionalUrl('AVATAR_BASE_URL');
  return publicBaseUrl === undefined ? undefined : (key) => `${publicBaseUrl}/${key}`;
}
