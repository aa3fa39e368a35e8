import { AppError } from '../errors';
import type { Identity, User, UserReader } from './ports';

/** What `GET /user/me` shows: never the openid, never a session_key. */
export interface Profile {
  userId: string;
  createdAt: string;
  /** The latest login through any of the user's identities. */
  lastLoginAt: string;
  /** Logins through all of the user's identities. */
  loginCount: number;
  /** The apps the user has signed in through (docs/identities.md): AppID and kind, never the openids. */
  apps?: { appid: string; kind: string }[];
  unionid?: string;
  phone?: { countryCode: string; purePhoneNumber: string; phoneNumber: string; verifiedAt: string };
  nickname?: string;
  /** A URL the mini-program can show in <image>. */
  avatarUrl?: string;
}

/** The public view of a row; `avatarUrlOf` turns the avatar's key into its URL (the CDN's). */
export function toProfile(user: User, avatarUrlOf?: (key: string) => string): Profile {
  const { userId, createdAt, lastLoginAt, loginCount, unionid, phone, nickname, avatarKey } = user;
  // Not the identity's appid, kind or home: getProfile lists the apps.
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
 * The profile a change answers with, as GET /user/me shows it: `home` as the change left it, and
 * the user's identities when the writer can list them (a reader of the byUser index).
 */
export async function profileAfterChange(
  home: User,
  who: { userId: string; openid: string; appid?: string },
  identities: Pick<UserReader, 'identitiesOf'> | undefined,
  avatarUrlOf?: (key: string) => string,
): Promise<Profile> {
  const profile = toProfile(home, avatarUrlOf);
  return identities ? { ...profile, ...acrossIdentities(home, who, await identities.identitiesOf(who.userId)) } : profile;
}

/**
 * The signed-in user's profile: the home row by its key (one GetItem, consistent with the
 * user's writes), checked to be the session's user, and beside it the user's identities
 * (one Query of the byUser index): the apps, and the logins summed over them.
 */
export async function getProfile(
  users: UserReader,
  who: { userId: string; openid: string; home?: string; appid?: string },
  avatarUrlOf?: (key: string) => string,
): Promise<Profile> {
  const [user, identities] = await Promise.all([users.findByOpenid(who.home ?? who.openid), users.identitiesOf(who.userId)]);
  if (!user || user.userId !== who.userId) throw new AppError('NOT_FOUND', 'The user no longer exists.');
  return { ...toProfile(user, avatarUrlOf), ...acrossIdentities(user, who, identities) };
}

/**
 * The logins and apps over every identity. The index is eventually consistent: the home row
 * (read consistently) stands in for its own entry, and the session's identity is listed even
 * before the index has it.
 */
export function acrossIdentities(home: User, who: { openid: string; appid?: string }, identities: Identity[]): Pick<Profile, 'loginCount' | 'lastLoginAt' | 'apps'> {
  const rows = [home, ...identities.filter((identity) => identity.openid !== home.openid)];
  const apps = new Map<string, string>();
  for (const row of rows) {
    // A row from before apps were kept is the default app's mini-program: the session's, for its own row.
    const appid = row.appid ?? (row.openid === who.openid ? who.appid : undefined);
    if (appid) apps.set(appid, row.kind ?? 'miniprogram');
  }
  if (who.appid && !apps.has(who.appid)) apps.set(who.appid, 'miniprogram');
  return {
    loginCount: rows.reduce((sum, row) => sum + row.loginCount, 0),
    lastLoginAt: rows.reduce((latest, row) => (row.lastLoginAt > latest ? row.lastLoginAt : latest), home.lastLoginAt),
    apps: [...apps].map(([appid, kind]) => ({ appid, kind })),
  };
}
