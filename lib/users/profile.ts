import { AppError } from '../errors';
import type { User, UserReader } from './ports';

/** What `GET /user/me` shows: never the openid, never a session_key. */
export interface Profile {
  userId: string;
  createdAt: string;
  lastLoginAt: string;
  loginCount: number;
  unionid?: string;
  phone?: { countryCode: string; purePhoneNumber: string; phoneNumber: string; verifiedAt: string };
  nickname?: string;
  /** A URL the mini-program can show in <image>. */
  avatarUrl?: string;
}

/** The public view of a row; `avatarUrlOf` turns the avatar's key into its URL (the CDN's). */
export function toProfile(user: User, avatarUrlOf?: (key: string) => string): Profile {
  const { userId, createdAt, lastLoginAt, loginCount, unionid, phone, nickname, avatarKey } = user;
  return {
    userId,
    createdAt,
    lastLoginAt,
    loginCount,
    ...(unionid ? { unionid } : {}),
    ...(phone ? { phone } : {}),
    ...(nickname ? { nickname } : {}),
    ...(avatarKey && avatarUrlOf ? { avatarUrl: avatarUrlOf(avatarKey) } : {}),
  };
}

/**
 * Reads the signed-in user's profile by openid (the table key, so one GetItem) and checks it
 * is the user the session was issued to.
 */
export async function getProfile(users: UserReader, who: { userId: string; openid: string }, avatarUrlOf?: (key: string) => string): Promise<Profile> {
  const user = await users.findByOpenid(who.openid);
  if (!user || user.userId !== who.userId) throw new AppError('NOT_FOUND', 'The user no longer exists.');
  return toProfile(user, avatarUrlOf);
}
