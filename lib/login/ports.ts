/**
 * WeChat's login as the use cases need it (the login, and the deletion's re-authentication);
 * lib/adapters/wechat-login.ts implements it over jscode2session (a mini-program's code) and
 * sns/oauth2/access_token (a 公众号 page's or an App's OAuth code).
 */

/** What WeChat gives us for a valid code. */
export interface WechatSession {
  openid: string;
  /** A mini-program's session_key; an OAuth login has none. */
  sessionKey?: string;
  unionid?: string;
  /** A 公众号 snapshot page's visitor (is_snapshotuser: 1): a virtual openid and unionid, no user. */
  snapshot?: true;
}

/** The port the login use case depends on. */
export interface WechatAuth {
  code2Session(code: string): Promise<WechatSession>;
}
