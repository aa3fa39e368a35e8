import { randomBytes } from 'node:crypto';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import { homeRow, LEASE_MARGIN_MS, leaseLeft, type ProfileWriter, type UserReader, type WriteLeases } from '../users/ports';
import { profileAfterChange, type Profile } from '../users/profile';
import { IMAGE_FORMATS, inspectImage } from './image';
import { avatarPrefix, type AvatarStore } from './ports';

/**
 * Older than any upload can be in flight (the avatar function's timeout and more): a file that
 * old which no row points at is left over, and may go.
 */
export const ORPHAN_AGE_MS = 60_000;

/**
 * Sets the signed-in user's avatar from an uploaded file.
 *
 * 1. Decide the type from the file's own bytes, read as an image (JPEG, PNG or WebP, its
 *    dimensions within limits, its frame whole; else UNSUPPORTED_IMAGE), see lib/profile/image.ts.
 * 2. Take a lease on the user row (refused once the account's deletion has begun; a deletion
 *    already running waits for it, then deletes every file of the user). Store the file under a new key, `avatars/<userId>/<random>.<ext>`, marked not yet in use, then
 *    mark it in use: a file whose request fails before that is removed by the bucket's
 *    lifecycle rule.
 * 3. Point the user row at it (one conditional UpdateItem, safe to repeat).
 * 4. Only then delete the file the row pointed at before (the write returns it), and any
 *    other of the user's files old enough to be left over from an upload that failed after
 *    step 2. Never a file of an upload still in flight: two uploads at once each delete only
 *    what their own write replaced, so the row never points at a deleted file.
 * A failure before step 3 leaves the old avatar in place (and at most an orphan file); a
 * failure in step 4 leaves an extra file that the next upload deletes.
 */
export class AvatarService {
  constructor(
    private readonly deps: {
      users: ProfileWriter;
      /** To answer the profile as GET /user/me shows it (the apps, the logins over them). */
      identities?: Pick<UserReader, 'identitiesOf'>;
      avatars: AvatarStore;
      /** The lease an upload takes on the user row before it stores a file (see WriteLeases). */
      leases: WriteLeases;
      /** The longest storing the file may take, every attempt included: none is sent with less lease left. */
      writeBudgetMs: number;
      /** Uploads per user per fixed window; limit 0 turns it off. */
      limit: { limit: number; windowSeconds: number };
      newKeyId?: () => string;
      now?: () => number;
    },
  ) {}

  async set(identity: { userId: string; openid: string; home?: string; appid?: string }, file: Uint8Array, log: Logger): Promise<Profile> {
    // The avatar is the user's, on its home row (docs/identities.md).
    const user = homeRow(identity);
    const { users, avatars } = this.deps;
    const { type } = inspectImage(file);
    const { contentType, extension } = IMAGE_FORMATS[type];
    const key = `${avatarPrefix(user.userId)}${this.deps.newKeyId?.() ?? randomBytes(12).toString('base64url')}.${extension}`;
    const now = () => this.deps.now?.() ?? Date.now();

    // A deletion that begins from here on waits for this lease, then deletes every file.
    const leaseUntil = now() + this.deps.writeBudgetMs + LEASE_MARGIN_MS;
    const { token: lease, uploads } = await this.deps.leases.leaseUpload(user, leaseUntil, this.deps.limit.windowSeconds * 1000);
    let updated;
    try {
      if (this.deps.limit.limit > 0 && uploads > this.deps.limit.limit) {
        log.warn('avatar upload rate limit reached', { userId: user.userId });
        throw new AppError('RATE_LIMITED', 'Too many avatar uploads. Retry later.', { retryAfterSeconds: this.deps.limit.windowSeconds - (Math.floor(now() / 1000) % this.deps.limit.windowSeconds) });
      }
      leaseLeft(leaseUntil, this.deps.writeBudgetMs, now());
      await avatars.put(key, file, contentType);
      await avatars.markInUse(key);
      try {
        updated = await users.updateProfile(user, { avatarKey: key }, lease);
      } catch (err) {
        // Deleted meanwhile: the deletion removes the file too, but it need not wait for that.
        if (err instanceof AppError && err.code === 'NOT_FOUND') await avatars.delete([key]).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      // Not ended by the row write: end it now, so leases never pile up on the row.
      await this.deps.leases.endLease(user, lease).catch(() => undefined);
      throw err;
    }
    const { user: row, previous } = updated;

    try {
      const leftOver = await avatars.list(avatarPrefix(user.userId), { modifiedBefore: now() - ORPHAN_AGE_MS });
      const doomed = [...new Set([previous, ...leftOver])].filter((other): other is string => !!other && other !== key);
      if (doomed.length > 0) await avatars.delete(doomed);
    } catch (err) {
      // The new avatar is in place; the old file waits for the next upload.
      log.warn('could not delete the previous avatar files', { userId: user.userId, errorCode: (err as AppError).code });
    }
    log.info('avatar set', { userId: user.userId, type, bytes: file.byteLength });
    return profileAfterChange(row, identity, this.deps.identities, avatars.urlOf.bind(avatars));
  }
}
