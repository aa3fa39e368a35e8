import type { Logger } from '../logger';

/** What a withdrawn authorization covered, from WeChat's RevokeInfo. */
export interface Revoked {
  /** The phone number (手机号): the user's phone binding goes. */
  phone: boolean;
  /** The nickname and avatar (用户信息 / 头像昵称): those profile fields and the avatar files go. */
  profile: boolean;
  /** All of an App's grant (301): the sessions opened through that App end. */
  appSessions?: boolean;
}

/**
 * What the service does for WeChat's authorization events (消息推送, "授权用户信息变更"),
 * keyed by the user's openid (the event's `OpenID`; `FromUserName` is the push service).
 * Each is safe to run twice: WeChat retries a push, and a duplicate may slip through.
 */
export interface AccountEvents {
  /** user_authorization_revoke: delete what the withdrawn authorization covered. */
  authorizationRevoked(openid: string, revoked: Revoked, log: Logger): Promise<void>;
  /** user_authorization_cancellation: the user deleted their WeChat account: delete the user. */
  accountCancelled(openid: string, log: Logger): Promise<void>;
  /** user_info_modified: the platform cleaned up the profile: clear the stored nickname and avatar. */
  infoModified(openid: string, log: Logger): Promise<void>;
}

/** Where the account use cases publish what happened (UserDeleted): EventBridge or the log (lib/adapters/eventbridge.ts). */
export interface EventPublisher {
  publish(detailType: string, detail: Record<string, unknown>): Promise<void>;
}
