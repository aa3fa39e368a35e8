import { createRedisClient } from '../adapters/redis';
import { loadLogConfig, loadRedisConfig, loadSessionConfig, settings, type Env } from '../config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { SessionService } from './service';
import { RedisSessionStore } from '../adapters/redis-sessions';

/**
 * Composition root of the authorizer and logout functions: Redis only. They never load the
 * DynamoDB client and never see the AppSecret.
 */
export function composeSessions(env: Env = process.env): { logger: Logger; metrics: Metrics; sessions: SessionService } {
  const redisConfig = loadRedisConfig(env);
  const session = loadSessionConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const store = new RedisSessionStore(createRedisClient(redisConfig), {
    keyPrefix: redisConfig.keyPrefix,
    userIndexTtlSeconds: session.maxAgeSeconds,
  });
  // The deployment's AppID (a String parameter, not a secret): the app of a session opened
  // before sessions kept theirs. Only the authorizer is given it; logout needs no app.
  const defaultAppId = settings(env).optional('WECHAT_APPID', '') || undefined;
  return {
    logger,
    metrics: createMetrics(log.serviceName),
    sessions: new SessionService({ store, ttlSeconds: session.ttlSeconds, ...(defaultAppId ? { defaultAppId } : {}) }),
  };
}
