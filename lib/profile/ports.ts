/**
 * The ports of the profile use cases (nickname and avatar, the 头像昵称填写 way). Adapters:
 * lib/adapters/s3-avatars.ts (S3), lib/adapters/wechat-content.ts (msg_sec_check); the user row's
 * `updateProfile` is in lib/adapters/dynamodb-users.ts.
 */

/**
 * All of a user's avatar files live under this prefix. Here, not beside the upload: the account
 * deletion (and so the login, which finishes one) needs it without the image parsing.
 */
export const avatarPrefix = (userId: string) => `avatars/${userId}/`;

/** An image type we accept, decided from the file's own bytes. */
export type ImageType = 'jpeg' | 'png' | 'webp';

/** Where avatar files live (S3; the S3 stand-in locally). Keys are `avatars/<userId>/<random>.<ext>`. */
export interface AvatarStore {
  /**
   * Stores the file under `key`, marked as not yet in use: a lifecycle rule removes files that
   * stay so (an upload whose request failed before the user row could point at it).
   */
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
  /** Marks the file as in use, so the lifecycle rule leaves it alone. */
  markInUse(key: string): Promise<void>;
  /** Every key under `prefix` (a user's avatars: at most a handful), or only those last written before `modifiedBefore` (epoch ms). */
  list(prefix: string, options?: { modifiedBefore?: number }): Promise<string[]>;
  /** Deletes the files; a key that is gone already is no error. */
  delete(keys: string[]): Promise<void>;
  /** Copies a file, its tags included, to another key (a merge moves a user's avatar: lib/users/merge.ts). */
  copy(from: string, to: string): Promise<void>;
  /** The URL a mini-program shows in <image>: the CDN's (or, locally, the stand-in's). */
  urlOf(key: string): string;
}

/** WeChat's text content check (msgSecCheck v2), as the nickname needs it. */
export interface ContentCheck {
  /**
   * 'pass' | 'review' (accepted, logged) | 'risky' (refused). Throws WECHAT_UNAVAILABLE when
   * WeChat cannot answer, and SERVICE_UNAVAILABLE with Retry-After for user-side errcodes
   * (e.g. 61010: the user was not active in the mini-program in the last two hours).
   * `appid`: the session's app, whose access token the call takes (none: the default app).
   */
  checkText(openid: string, content: string, appid?: string): Promise<{ suggest: 'pass' | 'review' | 'risky'; label?: number }>;
}
