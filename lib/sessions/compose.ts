import { createRedisClient } from '../adapters/redis';
import { loadLogConfig, loadRedisConfig, loadSessionConfig, type Env } from '../config';
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
  return { logger, metrics: createMetrics(log.serviceName), sessions: new SessionService({ store, ttlSeconds: session.ttlSeconds }) };
}
