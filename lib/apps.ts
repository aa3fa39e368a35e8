import { ConfigError, settings, type Env } from './config';
import { AppError } from './errors';

/**
 * The WeChat apps one deployment serves. One person has one openid per app and, once the apps
 * are bound to one open-platform account, one unionid across them (docs/identities.md).
 *
 * - The default app is `WECHAT_APPID` with its AppSecret `WECHAT_SECRET`, as before there
 *   were several: a deployment of one mini-program changes nothing. A login that names no
 *   appid is the default app's.
 * - More apps are listed in `WECHAT_APPS` (the stage param `wechatApps`): `appid[:kind]`,
 *   separated by commas or spaces; the kind is `miniprogram`, the default. Each has its own
 *   AppSecret, the setting `WECHAT_SECRET_<appid>`: in AWS the SecureString parameter
 *   `<WECHAT_APP_PARAMETERS>/<appid>/wechat-secret` (docs/deploy.md), fetched with the
 *   function's other parameters in one request (lib/secrets.ts); locally set directly.
 */
export type AppKind = 'miniprogram' | 'officialAccount' | 'mobileApp';
/** A mini-program; a 公众号 (official account), whose H5 pages log in with WeChat's web OAuth; an App on the open platform. */
export const APP_KINDS: readonly AppKind[] = ['miniprogram', 'officialAccount', 'mobileApp'];

export interface WechatApp {
  appId: string;
  kind: AppKind;
}

export interface Apps {
  /** The app a request that names none is for. */
  readonly defaultApp: WechatApp;
  /** Every app, the default first. */
  readonly all: readonly WechatApp[];
  /** The app with this AppID, or undefined when this deployment does not serve it. */
  get(appId: string): WechatApp | undefined;
}

/** An AppID in configuration: WeChat's are `wx` and 16 hex digits; letters, digits and _ (it names a setting). */
const CONFIGURED_APPID = /^[A-Za-z0-9_]{1,64}$/;

/**
 * Whether a session's app (none: the deployment's own mini-program) is a 公众号's or an App's,
 * whose sessions have no mini-program user behind them (no session_key; WeChat's mini-program
 * APIs refuse their openid). An app no longer served is not one: its route answers UNKNOWN_APP.
 */
export function isOAuthApp(apps: Apps, appid: string | undefined): boolean {
  const kind = appid === undefined ? 'miniprogram' : apps.get(appid)?.kind;
  return kind !== undefined && kind !== 'miniprogram';
}

/**
 * Refuses a session of another kind of app than a mini-program, for what only a mini-program's
 * user can do (a phone number's code, WeChat's content check on its openid): 403
 * MINIPROGRAM_SESSION_REQUIRED, before anything is counted or called. A session that kept no
 * app is the default app's, a mini-program.
 */
export function requireMiniProgram(apps: Apps, appid: string | undefined, what: string): void {
  if (isOAuthApp(apps, appid)) {
    const name = apps.get(appid ?? '')?.kind === 'officialAccount' ? 'a 公众号 page' : 'an App';
    throw new AppError('MINIPROGRAM_SESSION_REQUIRED', `${what} needs a session opened in a mini-program; this one was opened from ${name}.`);
  }
}

/** The apps of one kind, the default app first when it is of that kind. */
export function appsOfKind(apps: Apps, kind: AppKind): WechatApp[] {
  return apps.all.filter((app) => app.kind === kind);
}

/** The apps of this deployment, from WECHAT_APPID and WECHAT_APPS. No secret is read. */
export function loadApps(env: Env = process.env): Apps {
  const s = settings(env);
  const defaultApp: WechatApp = { appId: s.required('WECHAT_APPID'), kind: 'miniprogram' };
  const all: WechatApp[] = [defaultApp];
  for (const entry of listed(env)) {
    const [appId = '', kind = 'miniprogram', extra] = entry.split(':');
    if (!CONFIGURED_APPID.test(appId) || extra !== undefined) {
      throw new ConfigError(`WECHAT_APPS entries must be appid or appid:kind (letters, digits and _), got "${entry}"`);
    }
    const known = APP_KINDS.find((k) => k === kind);
    if (!known) throw new ConfigError(`WECHAT_APPS: the kind of ${appId} must be one of ${APP_KINDS.join(', ')}`);
    if (all.some((app) => app.appId === appId)) throw new ConfigError(`WECHAT_APPS lists ${appId} twice (or the default app, WECHAT_APPID)`);
    all.push({ appId, kind: known });
  }
  const byId = new Map(all.map((app) => [app.appId, app]));
  return { defaultApp, all, get: (appId) => byId.get(appId) };
}

/**
 * The settings each app has its own of, by SSM parameter name: the AppSecret, and the message
 * push's Token and EncodingAESKey. The default app's is the setting itself (WECHAT_SECRET);
 * another app's is suffixed with its AppID (WECHAT_SECRET_wx…), in AWS the SecureString
 * `<WECHAT_APP_PARAMETERS>/<appid>/<parameter name>`.
 */
export const APP_SETTINGS = {
  'wechat-secret': 'WECHAT_SECRET',
  'wechat-push-token': 'WECHAT_PUSH_TOKEN',
  'wechat-push-aes-key': 'WECHAT_PUSH_AES_KEY',
} as const;
export type AppSetting = (typeof APP_SETTINGS)[keyof typeof APP_SETTINGS];

/** The setting that holds an app's own `setting`: the plain name for the default app. */
export function appSetting(apps: Apps, appId: string, setting: AppSetting): string {
  return appId === apps.defaultApp.appId ? setting : `${setting}_${appId}`;
}

/** Each app's AppSecret, by AppID: "WECHAT_SECRET_<appid> is required" names one that is missing. */
export function loadAppSecrets(env: Env, apps: Apps): ReadonlyMap<string, string> {
  const s = settings(env);
  return new Map(apps.all.map((app) => [app.appId, s.required(appSetting(apps, app.appId, 'WECHAT_SECRET'))]));
}

/**
 * One client per app (an access token's, say), made at cold start; the picker answers the one of
 * a session's app (`appid`), the default app's for a session that kept none, and UNKNOWN_APP for
 * an app this deployment no longer serves.
 */
export function byApp<T>(apps: Apps, secrets: ReadonlyMap<string, string>, make: (appId: string, appSecret: string) => T): (appid?: string) => T {
  const made = new Map(apps.all.map((app) => [app.appId, make(app.appId, secrets.get(app.appId)!)]));
  return (appid) => {
    const found = made.get(appid ?? apps.defaultApp.appId);
    if (found === undefined) throw new AppError('UNKNOWN_APP', `This service no longer serves the mini-program ${appid} this session was opened from.`);
    return found;
  };
}

/** Whether a setting is an app's AppSecret: never written to the dev env file (local/env-file.ts). */
export function isAppSecretSetting(name: string): boolean {
  return name === 'WECHAT_SECRET' || (/^WECHAT_SECRET_[A-Za-z0-9_]+$/.test(name) && !name.endsWith('_PARAMETER'));
}

/** Whether a setting is another app's own secret (AppSecret, push Token or key): scrubbed from logs (lib/secrets.ts). */
export function isAppSecureSetting(name: string): boolean {
  return /^(WECHAT_SECRET|WECHAT_PUSH_TOKEN|WECHAT_PUSH_AES_KEY)_[A-Za-z0-9_]+$/.test(name) && !name.endsWith('_PARAMETER');
}

/**
 * The environment with each listed app's parameters named, under `WECHAT_APP_PARAMETERS`:
 * those `WECHAT_APP_SETTINGS` names (parameter names, separated by spaces or commas; the
 * AppSecret's, `wechat-secret`, when unset), e.g. `WECHAT_SECRET_<appid>_PARAMETER =
 * <path>/<appid>/wechat-secret`, unless the setting or its parameter is set already. Without
 * WECHAT_APP_PARAMETERS (locally) the environment is as it was.
 */
export function withAppParameters(env: Env): Env {
  const path = env.WECHAT_APP_PARAMETERS?.trim().replace(/\/+$/, '');
  if (!path) return env;
  const wanted = (env.WECHAT_APP_SETTINGS?.trim() || 'wechat-secret').split(/[\s,]+/).filter(Boolean);
  const named: Record<string, string> = {};
  for (const parameter of wanted) {
    const setting = APP_SETTINGS[parameter as keyof typeof APP_SETTINGS];
    if (!setting) throw new ConfigError(`WECHAT_APP_SETTINGS: ${parameter} is not one of ${Object.keys(APP_SETTINGS).join(', ')}`);
    for (const entry of listed(env)) {
      const appId = entry.split(':')[0]!;
      if (!CONFIGURED_APPID.test(appId)) continue; // loadApps says what is wrong with it
      const name = `${setting}_${appId}`;
      if (!env[name]?.trim() && !env[`${name}_PARAMETER`]?.trim()) named[`${name}_PARAMETER`] = `${path}/${appId}/${parameter}`;
    }
  }
  return Object.keys(named).length > 0 ? { ...env, ...named } : env;
}

function listed(env: Env): string[] {
  return (env.WECHAT_APPS ?? '').split(/[\s,]+/).filter(Boolean);
}
