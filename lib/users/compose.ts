import { createDynamoClient } from '../clients/dynamodb';
import { loadAvatarUrl, loadDynamoConfig, loadLogConfig } from '../config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { DynamoUserRepository, type UserReader } from './repository';

/** Composition root of /user/me: DynamoDB only (and the avatars' public URL, to show them). */
export function composeUsers(env: Record<string, string | undefined> = process.env): {
  logger: Logger;
  metrics: Metrics;
  users: UserReader;
  avatarUrlOf: ((key: string) => string) | undefined;
} {
  const dynamo = loadDynamoConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  return {
    logger,
    metrics: createMetrics(log.serviceName),
    users: new DynamoUserRepository(createDynamoClient(dynamo), dynamo.usersTable),
    avatarUrlOf: loadAvatarUrl(env),
  };
}
