/**
 * WeChat's login as the use cases need it (the login, and the deletion's re-authentication);
 * lib/adapters/wechat-login.ts implements it over jscode2session.
 */

/** What jscode2session gives us for a valid code. */
export interface WechatSession {
  openid: string;
  sessionKey: string;
  unionid?: string;
}

/** The port the login use case depends on. */
export interface WechatAuth {
  code2Session(code: string): Promise<WechatSession>;
}
