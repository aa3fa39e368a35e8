import { createDynamoClient } from '../adapters/dynamodb';
import { loadDynamoConfig, loadLogConfig, loadUsersTable, type Env } from '../config';
import { loadAvatarUrl } from '../profile/config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { DynamoUserRepository } from '../adapters/dynamodb-users';
import type { UserReader } from './ports';

/** Composition root of /user/me: DynamoDB only (and the avatars' public URL, to show them). */
export function composeUsers(env: Env = process.env): {
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
    users: new DynamoUserRepository(createDynamoClient(dynamo), loadUsersTable(env)),
    avatarUrlOf: loadAvatarUrl(env),
  };
}
