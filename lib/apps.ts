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
export type AppKind = 'miniprogram';
export const APP_KINDS: readonly AppKind[] = ['miniprogram'];

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

/** The setting that holds an app's AppSecret: WECHAT_SECRET for the default app. */
export function secretSetting(apps: Apps, appId: string): string {
  return appId === apps.defaultApp.appId ? 'WECHAT_SECRET' : `WECHAT_SECRET_${appId}`;
}

/** Each app's AppSecret, by AppID: "WECHAT_SECRET_<appid> is required" names one that is missing. */
export function loadAppSecrets(env: Env, apps: Apps): ReadonlyMap<string, string> {
  const s = settings(env);
  return new Map(apps.all.map((app) => [app.appId, s.required(secretSetting(apps, app.appId))]));
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

/** Whether a setting is an app's AppSecret (a secret, scrubbed from logs: lib/secrets.ts). */
export function isAppSecretSetting(name: string): boolean {
  return name === 'WECHAT_SECRET' || (/^WECHAT_SECRET_[A-Za-z0-9_]+$/.test(name) && !name.endsWith('_PARAMETER'));
}

/**
 * The environment with each listed app's secret parameter named: `WECHAT_SECRET_<appid>_PARAMETER`
 * under `WECHAT_APP_PARAMETERS`, unless the secret or its parameter is set already. Without
 * WECHAT_APP_PARAMETERS (locally) the environment is as it was.
 */
export function withAppParameters(env: Env): Env {
  const path = env.WECHAT_APP_PARAMETERS?.trim().replace(/\/+$/, '');
  if (!path) return env;
  const named: Record<string, string> = {};
  for (const entry of listed(env)) {
    const appId = entry.split(':')[0]!;
    if (!CONFIGURED_APPID.test(appId)) continue; // loadApps says what is wrong with it
    const name = `WECHAT_SECRET_${appId}`;
    if (!env[name]?.trim() && !env[`${name}_PARAMETER`]?.trim()) named[`${name}_PARAMETER`] = `${path}/${appId}/wechat-secret`;
  }
  return Object.keys(named).length > 0 ? { ...env, ...named } : env;
}

function listed(env: Env): string[] {
  return (env.WECHAT_APPS ?? '').split(/[\s,]+/).filter(Boolean);
}
