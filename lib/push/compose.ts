import { createAccountEvents } from '../account/compose';
import type { AccountEvents } from '../account/ports';
import { createRedisClient } from '../adapters/redis';
import { loadLogConfig, loadRedisConfig, type Env } from '../config';
import { loadApps } from '../apps';
import { AppError } from '../errors';
import { loadPushConfigs } from './config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { RedisEventDedupe } from '../adapters/redis-push-dedupe';
import { PushService } from './service';

/** Builds the account side of the events once per container, from the function's settings. */
export type AccountEventsFactory = (env: Env) => AccountEvents | Promise<AccountEvents>;

/**
 * Composition root of the message push function (/wechat/events, /wechat/events/{appid}): each app's push settings, Redis for
 * the "processed once" records, and the AccountEvents the events run on, from
 * `lib/account/compose.ts` unless a test hands in its own. No AppSecret, no WeChat API call.
 */
export async function composeWechatEvents(
  env: Env = process.env,
  accountEvents: AccountEventsFactory = createAccountEvents,
): Promise<{ logger: Logger; metrics: Metrics; push: (appid?: string) => PushService }> {
  const apps = loadApps(env);
  const configs = loadPushConfigs(env);
  const redisConfig = loadRedisConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const dedupe = new RedisEventDedupe(createRedisClient(redisConfig), redisConfig.keyPrefix);
  const events = await accountEvents(env);
  // One service per app, each with its own Token and key; the route's {appid} picks it.
  const services = new Map([...configs].map(([appId, config]) => [appId, new PushService({ ...config, events, dedupe })]));
  const push = (appid?: string) => {
    const service = services.get(appid ?? apps.defaultApp.appId);
    if (!service) throw new AppError('NOT_FOUND', 'No such app: its pushes go to /wechat/events/<its AppID> once it is in WECHAT_APPS.');
    return service;
  };
  return { logger, metrics: createMetrics(log.serviceName), push };
}
