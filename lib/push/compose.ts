import { createAccountEvents } from '../account/compose';
import type { AccountEvents } from '../account/ports';
import { createRedisClient } from '../adapters/redis';
import { loadLogConfig, loadRedisConfig, type Env } from '../config';
import { loadPushConfig } from './config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { RedisEventDedupe } from '../adapters/redis-push-dedupe';
import { PushService } from './service';

/** Builds the account side of the events once per container, from the function's settings. */
export type AccountEventsFactory = (env: Env) => AccountEvents | Promise<AccountEvents>;

/**
 * Composition root of the message push function (/wechat/events): the push settings, Redis for
 * the "processed once" records, and the AccountEvents the events run on, from
 * `lib/account/compose.ts` unless a test hands in its own. No AppSecret, no WeChat API call.
 */
export async function composeWechatEvents(
  env: Env = process.env,
  accountEvents: AccountEventsFactory = createAccountEvents,
): Promise<{ logger: Logger; metrics: Metrics; push: PushService }> {
  const push = loadPushConfig(env);
  const redisConfig = loadRedisConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const dedupe = new RedisEventDedupe(createRedisClient(redisConfig), redisConfig.keyPrefix);
  const events = await accountEvents(env);
  return { logger, metrics: createMetrics(log.serviceName), push: new PushService({ ...push, events, dedupe }) };
}
