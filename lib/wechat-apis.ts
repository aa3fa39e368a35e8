import { wechatApisByApp, type AccessTokenRedis, type WechatApi } from './adapters/wechat-access-token';
import { loadApps, loadAppSecrets, type Apps } from './apps';
import { loadWechatConfig, type Env } from './config';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

/**
 * Each app's WeChat server API, as the functions that call one build it (the phone binding, the
 * nickname's check, open data's checksession): the app's own access token, shared between
 * containers through Redis and sealed under its AppSecret, each fetch counted
 * (`AccessTokenFetches`). `wrap` makes the function's own client of it; `apiOf(appid)` is the
 * session's app's (none: the default app's), and `apps` what the deployment serves.
 */
export function composeWechatApis<T>(
  env: Env,
  shared: { redis: AccessTokenRedis; keyPrefix: string; logger: Logger; metrics: Metrics },
  wrap: (api: WechatApi, appId: string) => T,
): { apps: Apps; apiOf: (appid?: string) => T } {
  const apps = loadApps(env);
  const apiOf = wechatApisByApp(
    {
      wechat: loadWechatConfig(env),
      apps,
      secrets: loadAppSecrets(env, apps),
      redis: shared.redis,
      keyPrefix: shared.keyPrefix,
      logger: shared.logger,
      onTokenFetch: () => shared.metrics.put('AccessTokenFetches', 1, 'Count'),
    },
    wrap,
  );
  return { apps, apiOf };
}
