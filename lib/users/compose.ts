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
import { statusOf, suspendUser, unsuspendUser, type SuspensionDeps } from './suspension';
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
 * The operator's other operations (scripts/users.ts): suspend, unsuspend, and show a user found
 * by userId, phone number (the phones table's claim) or openid (its identity's row).
 */
export function composeOperator(env: Env = process.env) {
  const dynamoConfig = loadDynamoConfig(env);
  const usersTable = loadUsersTable(env);
  const redisConfig = loadRedisConfig(env);
  const session = loadSessionConfig(env);
  const dynamo = createDynamoClient(dynamoConfig);
  const users = new DynamoUserRepository(dynamo, usersTable, loadUnionidsTable(env));
  const phones = new DynamoPhoneRepository(dynamo, { phones: loadPhoneConfig(env).phonesTable, users: usersTable });
  const sessions = new RedisSessionStore(createRedisClient(redisConfig), { keyPrefix: redisConfig.keyPrefix, userIndexTtlSeconds: session.maxAgeSeconds });
  const deps: SuspensionDeps = { users, sessions };
  /** The userId a query names: a userId as is; a phone number's claim holder; an openid's row's user. */
  const userIdOf = async (query: string): Promise<string | undefined> => {
    if (/^[0-9A-Z]{26}$/.test(query)) return query;
    const digits = query.replace(/[\s-]/g, '');
    if (/^\+?\d{5,15}$/.test(digits)) return (await phones.holderOf(digits.startsWith('+') ? digits : `+86${digits}`))?.userId;
    return (await users.readAccount(query))?.userId;
  };
  return {
    suspend: (userId: string, options: { reason: string; until?: Date }) => suspendUser(deps, userId, options),
    unsuspend: (userId: string) => unsuspendUser(deps, userId),
    /** The user, its identities, its status and its sessions' times; null when no user matches. */
    async show(query: string) {
      const userId = await userIdOf(query);
      const home = userId ? await homeOf(users, userId) : null;
      if (!userId || !home) return null;
      const [identities, status, live] = await Promise.all([users.identitiesOf(userId), statusOf(deps, home), sessions.sessionsOf(userId, '', Date.now())]);
      const { phone, nickname, unionid, createdAt } = home;
      return {
        userId,
        createdAt,
        ...(unionid ? { unionid } : {}),
        ...(phone ? { phone: maskPhone(phone.phoneNumber) } : {}),
        ...(nickname ? { nickname } : {}),
        status,
        identities: identities.map(({ openid, appid, kind, lastLoginAt, loginCount }) => ({ openid, appid, kind, lastLoginAt, loginCount })),
        sessions: live.map(({ createdAt: created, expiresAt }) => ({ createdAt: created, expiresAt })),
      };
    },
  };
}
