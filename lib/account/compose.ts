import { createDynamoClient } from '../adapters/dynamodb';
import { createRedisClient } from '../adapters/redis';
import { byApp, loadApps, loadAppSecrets } from '../apps';
import { loadDynamoConfig, loadLogConfig, loadRedisConfig, loadSessionConfig, loadUnionidsTable, loadUsersTable, loadWechatConfig, type Env } from '../config';
import { loadPhoneConfig } from '../phone/config';
import { loadAvatarConfig, loadAvatarUrl } from '../profile/config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { phoneKeysOf, RedisPhoneCodeStore } from '../adapters/redis-phone-codes';
import { DynamoPhoneRepository } from '../adapters/dynamodb-phones';
import { createS3AvatarStore } from '../adapters/s3-avatars';
import { RedisSessionStore } from '../adapters/redis-sessions';
import { DynamoUserRepository } from '../adapters/dynamodb-users';
import { HttpWechatAuth } from '../adapters/wechat-login';
import type { WechatAuth } from '../login/ports';
import { createUserEvents } from './events';
import { exportAccount, type AccountExport } from './export';
import { AccountService, MAX_LEASE_WAIT_MS } from './service';
import type { Holder } from '../phone/service';
import type { AccountEvents } from './ports';

/** Composition root of the export: the user row and Redis only (no WeChat, no S3, no AppSecret). */
export function composeExport(env: Env = process.env): { logger: Logger; metrics: Metrics; exportFor: (user: Holder & { sessionId: string }) => Promise<AccountExport> } {
  const dynamoConfig = loadDynamoConfig(env);
  const redisConfig = loadRedisConfig(env);
  const session = loadSessionConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const deps = {
    users: new DynamoUserRepository(createDynamoClient(dynamoConfig), loadUsersTable(env)),
    sessions: new RedisSessionStore(createRedisClient(redisConfig), { keyPrefix: redisConfig.keyPrefix, userIndexTtlSeconds: session.maxAgeSeconds }),
    avatarUrlOf: loadAvatarUrl(env),
  };
  return { logger, metrics: createMetrics(log.serviceName), exportFor: (user) => exportAccount(deps, user) };
}

/**
 * Composition root of account deletion (POST /user/delete): WeChat (to re-authenticate), the
 * users and phones tables, the avatars bucket, Redis, and the event bus.
 */
export function composeAccount(env: Env = process.env): { logger: Logger; metrics: Metrics; account: AccountService } {
  const wechat = loadWechatConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const apps = loadApps(env);
  // The re-authentication is in the session's app, with that app's AppSecret (lib/apps.ts).
  // A fresh code of the session's own kind: a mini-program's wx.login() code, or a 公众号 page's or an App's OAuth code.
  const exchangeOf = byApp(apps, loadAppSecrets(env, apps), (appId, appSecret) =>
    new HttpWechatAuth({ ...wechat, grant: apps.get(appId)?.kind === 'miniprogram' ? 'jscode2session' : 'oauth2', appId, appSecret }),
  );
  // POST /user/delete runs for 20 s at most (deploy/routes/delete-account.yml): it can wait out a writer's lease.
  return { logger, metrics: createMetrics(log.serviceName), account: accountService(env, logger, MAX_LEASE_WAIT_MS, exchangeOf) };
}

/**
 * The AccountEvents WeChat's authorization events run on (the message push function,
 * lib/push/compose.ts): the same service without WeChat, so no AppSecret.
 */
export function createAccountEvents(env: Env = process.env): AccountEvents {
  const log = loadLogConfig(env);
  // The push function runs for 5 s at most: a longer wait answers 503, and WeChat sends it again.
  return accountService(env, createLogger({ level: log.logLevel, service: log.serviceName }), 1500);
}

/**
 * The account service over the stores, with WeChat only where a deletion is re-authenticated
 * (also the operator's, lib/users/compose.ts, which hands it the clients it made already).
 */
export function accountService(
  env: Env,
  logger: Logger,
  maxLeaseWaitMs: number,
  wechat?: (appid?: string) => WechatAuth,
  clients: { dynamo?: ReturnType<typeof createDynamoClient>; redis?: ReturnType<typeof createRedisClient> } = {},
): AccountService {
  const dynamoConfig = loadDynamoConfig(env);
  const usersTable = loadUsersTable(env);
  const redisConfig = loadRedisConfig(env);
  const phone = loadPhoneConfig(env);
  const avatar = loadAvatarConfig(env);
  const session = loadSessionConfig(env);
  const dynamo = clients.dynamo ?? createDynamoClient(dynamoConfig);
  const redis = clients.redis ?? createRedisClient(redisConfig);
  return new AccountService({
    wechat,
    users: new DynamoUserRepository(dynamo, usersTable, loadUnionidsTable(env)),
    phones: new DynamoPhoneRepository(dynamo, { phones: phone.phonesTable, users: usersTable }),
    avatars: createS3AvatarStore({ bucket: avatar.bucket, publicBaseUrl: avatar.publicBaseUrl, endpoint: avatar.endpoint, timeoutMs: avatar.timeoutMs }),
    sessions: new RedisSessionStore(redis, { keyPrefix: redisConfig.keyPrefix, userIndexTtlSeconds: session.maxAgeSeconds }),
    phoneKeys: (userId) => phoneKeysOf(redisConfig.keyPrefix, userId),
    phoneLeases: new RedisPhoneCodeStore(redis, redisConfig.keyPrefix, redisConfig.token),
    events: createUserEvents(env, logger),
    maxLeaseWaitMs,
  });
}
