import { createRedisClient } from '../adapters/redis';
import { RedisSessionStore } from '../adapters/redis-sessions';
import { createWechatSessionCheck } from '../adapters/wechat-session-check';
import { isOAuthApp } from '../apps';
import { AppError } from '../errors';
import { loadLogConfig, loadRedisConfig, loadSessionConfig, loadWechatConfig, type Env } from '../config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { loadOpenDataConfig } from './config';
import { OpenDataService } from './service';
import { composeWechatApis } from '../wechat-apis';

/**
 * Composition root of POST /user/opendata: Redis (the session's sealed key, the shared access
 * token, the checksession limit) and WeChat's checksession; no DynamoDB. It holds the
 * AppSecrets: the access token is fetched with them.
 */
export function composeOpenData(env: Env = process.env): { logger: Logger; metrics: Metrics; service: OpenDataService } {
  const wechat = loadWechatConfig(env);
  const redisConfig = loadRedisConfig(env);
  const session = loadSessionConfig(env);
  const config = loadOpenDataConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const metrics = createMetrics(log.serviceName);
  const redis = createRedisClient(redisConfig);
  const { apps, apiOf: checkOf } = composeWechatApis(env, { redis, keyPrefix: redisConfig.keyPrefix, logger, metrics }, (api) => createWechatSessionCheck(api));
  const service = new OpenDataService({
    sessions: new RedisSessionStore(redis, { keyPrefix: redisConfig.keyPrefix, userIndexTtlSeconds: session.maxAgeSeconds }),
    checkKey: (appid) => checkOf(appid),
    // A 公众号's or an App's session has no session_key.
    checkApp: (appid) => {
      if (isOAuthApp(apps, appid)) throw new AppError('OPENDATA_UNSUPPORTED');
    },
    defaultAppId: wechat.appId,
    maxAgeSeconds: config.maxAgeSeconds,
    checkLimit: config.checkLimit,
  });
  return { logger, metrics, service };
}
