import { createDynamoClient } from '../adapters/dynamodb';
import { createRedisClient } from '../adapters/redis';
import { DynamoPhoneRepository } from '../adapters/dynamodb-phones';
import { phoneKeysOf, RedisPhoneCodeStore } from '../adapters/redis-phone-codes';
import { RedisSessionStore } from '../adapters/redis-sessions';
import { createS3AvatarStore } from '../adapters/s3-avatars';
import { maskPhone } from '../adapters/wechat-phone';
import { createUserEvents } from '../account/events';
import { loadDynamoConfig, loadLogConfig, loadRedisConfig, loadSessionConfig, loadUnionidsTable, loadUsersTable, type Env } from '../config';
import { loadPhoneConfig } from '../phone/config';
import { loadAvatarConfig, loadAvatarUrl } from '../profile/config';
import { homeOf, mergeUsers, type MergeDeps, type MergeReport } from './merge';
import { createOperator, createSessionOperator, type Operator } from './operator';
import { accountService } from '../account/compose';
import { exportAccount } from '../account/export';
import { MAX_LEASE_WAIT_MS } from '../account/service';
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

/**
 * Composition root of the operator's merge (scripts/users.ts merge, lib/users/merge.ts): the
 * users, unionids and phones tables, the avatars bucket, Redis, and where UsersMerged goes.
 */
export function composeMerge(env: Env = process.env): { logger: Logger; merge: (from: string, into: string) => Promise<MergeReport> } {
  const dynamoConfig = loadDynamoConfig(env);
  const usersTable = loadUsersTable(env);
  const redisConfig = loadRedisConfig(env);
  const session = loadSessionConfig(env);
  const avatar = loadAvatarConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const dynamo = createDynamoClient(dynamoConfig);
  const redis = createRedisClient(redisConfig);
  const users = new DynamoUserRepository(dynamo, usersTable, loadUnionidsTable(env));
  const deps: MergeDeps = {
    users,
    leases: users,
    phones: new DynamoPhoneRepository(dynamo, { phones: loadPhoneConfig(env).phonesTable, users: usersTable }),
    phoneLeases: new RedisPhoneCodeStore(redis, redisConfig.keyPrefix, redisConfig.token),
    avatars: createS3AvatarStore({ bucket: avatar.bucket, publicBaseUrl: avatar.publicBaseUrl, endpoint: avatar.endpoint, timeoutMs: avatar.timeoutMs }),
    sessions: new RedisSessionStore(redis, { keyPrefix: redisConfig.keyPrefix, userIndexTtlSeconds: session.maxAgeSeconds }),
    phoneKeys: (userId) => phoneKeysOf(redisConfig.keyPrefix, userId),
    events: createUserEvents(env, logger),
    mask: maskPhone,
  };
  return { logger, merge: (from, into) => mergeUsers(deps, from, into, logger) };
}

/**
 * The operator's use cases (lib/users/operator.ts) for the CLI (scripts/users.ts) and the admin
 * API (functions/admin.ts): the users, unionids and phones tables, Redis, and for a deletion the
 * avatars bucket and the event bus (no WeChat, no AppSecret).
 */
export function composeOperator(env: Env = process.env): { logger: Logger; metrics: Metrics; operator: Operator } {
  const dynamoConfig = loadDynamoConfig(env);
  const usersTable = loadUsersTable(env);
  const redisConfig = loadRedisConfig(env);
  const session = loadSessionConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const dynamo = createDynamoClient(dynamoConfig);
  const users = new DynamoUserRepository(dynamo, usersTable, loadUnionidsTable(env));
  const redis = createRedisClient(redisConfig);
  const sessions = new RedisSessionStore(redis, { keyPrefix: redisConfig.keyPrefix, userIndexTtlSeconds: session.maxAgeSeconds });
  // A deletion may wait out a writer's lease, as POST /user/delete does; over the same clients.
  const account = accountService(env, logger, MAX_LEASE_WAIT_MS, undefined, { dynamo, redis });
  const avatarUrlOf = loadAvatarUrl(env);
  const operator = createOperator({
    users,
    phones: new DynamoPhoneRepository(dynamo, { phones: loadPhoneConfig(env).phonesTable, users: usersTable }),
    sessions,
    account: {
      exportOf: (user) => exportAccount({ users, sessions, avatarUrlOf }, user),
      deleteHome: (home, requestLog) => account.deleteHome(home, requestLog),
    },
    mask: maskPhone,
  });
  return { logger, metrics: createMetrics(log.serviceName), operator };
}

/** `npm run revoke` (scripts/users.ts revoke): Redis only, so it works while DynamoDB is out of reach. */
export function composeSessionOperator(env: Env = process.env): { store: RedisSessionStore; operator: ReturnType<typeof createSessionOperator> } {
  const redisConfig = loadRedisConfig(env);
  const store = new RedisSessionStore(createRedisClient(redisConfig), { keyPrefix: redisConfig.keyPrefix, userIndexTtlSeconds: loadSessionConfig(env).maxAgeSeconds });
  return { store, operator: createSessionOperator({ sessions: store }) };
}
