import { AppError } from '../errors';
import type { Logger } from '../logger';
import { homeRow, type ProfileWriter, type UserReader } from '../users/ports';
import { profileAfterChange, type Profile } from '../users/profile';
import type { ContentCheck } from './ports';

export const NICKNAME_MAX_CODE_POINTS = 32;
/** Control characters and line/paragraph separators: nothing a name shows. */
const FORBIDDEN = /[\p{Cc}\p{Zl}\p{Zp}]/u;

/**
 * A nickname as `<input type="nickname">` gives it: trimmed, 1–32 Unicode code points (an
 * emoji or a CJK character is one, whatever its UTF-16 length), no control characters.
 */
export function validNickname(raw: unknown): string {
  if (typeof raw !== 'string') throw new AppError('INVALID_REQUEST', '"nickname" must be a string.');
  const nickname = raw.trim();
  const length = [...nickname].length;
  if (length === 0 || length > NICKNAME_MAX_CODE_POINTS) {
    throw new AppError('INVALID_REQUEST', `"nickname" must be 1–${NICKNAME_MAX_CODE_POINTS} characters (Unicode code points; an emoji made of several counts as several) after trimming.`);
  }
  if (FORBIDDEN.test(nickname)) throw new AppError('INVALID_REQUEST', '"nickname" must not contain control characters or line breaks.');
  return nickname;
}

/**
 * Sets the signed-in user's nickname.
 *
 * 1. Validate it (validNickname).
 * 2. Check it with WeChat's content check (msgSecCheck v2, scene 资料): 'risky' is refused and
 *    nothing changes; 'review' is accepted and logged. An unchecked nickname is never stored:
 *    when WeChat cannot answer, neither do we (503).
 * 3. Set it on the user row (one conditional UpdateItem, safe to repeat) and answer the profile.
 */
export class NicknameService {
  constructor(
    private readonly deps: {
      users: ProfileWriter;
      content: ContentCheck;
      avatarUrlOf?: (key: string) => string;
      /** To answer the profile as GET /user/me shows it (the apps, the logins over them). */
      identities?: Pick<UserReader, 'identitiesOf'>;
      /** Refuses a session whose app WeChat's content check cannot take (not a mini-program's). */
      checkApp?: (appid: string | undefined) => void;
    },
  ) {}

  async set(user: { userId: string; openid: string; home?: string; appid?: string }, raw: unknown, log: Logger): Promise<Profile> {
    this.deps.checkApp?.(user.appid);
    const nickname = validNickname(raw);
    let verdict;
    try {
      verdict = await this.deps.content.checkText(user.openid, nickname, user.appid);
    } catch (err) {
      if (err instanceof AppError && err.details?.userSide) {
        // The user's state at WeChat (e.g. 61010: not active in the last two hours), not our
        // configuration: a warning, and no WECHAT_ERROR alarm.
        log.warn('nickname check refused for the user’s state at WeChat', { userId: user.userId, errcode: err.details.errcode });
      }
      throw err;
    }
    if (verdict.suggest === 'risky') {
      log.info('nickname refused by WeChat’s content check', { userId: user.userId, label: verdict.label });
      throw new AppError('CONTENT_REJECTED');
    }
    if (verdict.suggest === 'review') log.info('nickname accepted for review by WeChat’s content check', { userId: user.userId, label: verdict.label });
    // The profile is the user's, on its home row (docs/identities.md).
    const { user: row } = await this.deps.users.updateProfile(homeRow(user), { nickname });
    log.info('nickname set', { userId: user.userId });
    return profileAfterChange(row, user, this.deps.identities, this.deps.avatarUrlOf);
  }
}
