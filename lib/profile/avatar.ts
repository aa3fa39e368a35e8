import { randomBytes } from 'node:crypto';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import type { ProfileWriter } from '../users/repository';
import { toProfile, type Profile } from '../users/profile';
import { IMAGE_FORMATS, sniffImage } from './image';
import type { AvatarStore } from './ports';

/** All of a user's avatar files live under this prefix. */
export const avatarPrefix = (userId: string) => `avatars/${userId}/`;

/**
 * Sets the signed-in user's avatar from an uploaded file.
 *
 * 1. Decide the type from the file's own bytes (JPEG, PNG or WebP; else UNSUPPORTED_IMAGE).
 * 2. Store it under a new key, `avatars/<userId>/<random>.<ext>`, marked not yet in use, then
 *    mark it in use: a file whose request fails before that is removed by the bucket's
 *    lifecycle rule.
 * 3. Point the user row at it (one conditional UpdateItem, safe to repeat).
 * 4. Only then delete the user's other avatar files: the previous one, and any left over by
 *    an earlier upload that failed after step 2.
 * A failure before step 3 leaves the old avatar in place (and at most an orphan file); a
 * failure in step 4 leaves an extra file that the next upload deletes.
 */
export class AvatarService {
  constructor(
    private readonly deps: { users: ProfileWriter; avatars: AvatarStore; newKeyId?: () => string },
  ) {}

  async set(user: { userId: string; openid: string }, file: Uint8Array, log: Logger): Promise<Profile> {
    const { users, avatars } = this.deps;
    const type = sniffImage(file);
    if (!type) throw new AppError('UNSUPPORTED_IMAGE');
    const { contentType, extension } = IMAGE_FORMATS[type];
    const key = `${avatarPrefix(user.userId)}${this.deps.newKeyId?.() ?? randomBytes(12).toString('base64url')}.${extension}`;

    await avatars.put(key, file, contentType);
    await avatars.markInUse(key);
    const row = await users.updateProfile(user, { avatarKey: key });

    try {
      const others = (await avatars.list(avatarPrefix(user.userId))).filter((other) => other !== key);
      if (others.length > 0) await avatars.delete(others);
    } catch (err) {
      // The new avatar is in place; the old file waits for the next upload.
      log.warn('could not delete the previous avatar files', { userId: user.userId, errorCode: (err as AppError).code });
    }
    log.info('avatar set', { userId: user.userId, type, bytes: file.byteLength });
    return toProfile(row, avatars.urlOf.bind(avatars));
  }
}
