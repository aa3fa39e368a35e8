import { composeWechatApis } from '../wechat-apis';
import { createDynamoClient } from '../adapters/dynamodb';
import { createRedisClient } from '../adapters/redis';
import { requireMiniProgram } from '../apps';
import { loadDynamoConfig, loadLogConfig, loadRedisConfig, loadUsersTable, type Env } from '../config';
import { loadAvatarConfig, loadAvatarUrl } from './config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { DynamoUserRepository } from '../adapters/dynamodb-users';
import { writeBudgetMs } from '../users/ports';
import { createWechatContentCheck } from '../adapters/wechat-content';
import { AvatarService } from './avatar';
import { createS3AvatarStore } from '../adapters/s3-avatars';
import { NicknameService } from './nickname';

/** Composition root of POST /user/avatar: S3 and the user row. No WeChat, no Redis. */
export function composeAvatar(env: Env = process.env): { logger: Logger; metrics: Metrics; avatars: AvatarService; maxBytes: number } {
  const dynamo = loadDynamoConfig(env);
  const avatar = loadAvatarConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const rows = new DynamoUserRepository(createDynamoClient(dynamo), loadUsersTable(env));
  const avatars = new AvatarService({
    users: rows,
    identities: rows,
    leases: rows,
    avatars: createS3AvatarStore({ bucket: avatar.bucket, publicBaseUrl: avatar.publicBaseUrl, endpoint: avatar.endpoint, timeoutMs: avatar.timeoutMs }),
    writeBudgetMs: writeBudgetMs(avatar.timeoutMs),
    limit: avatar.limit,
  });
  return { logger, metrics: createMetrics(log.serviceName), avatars, maxBytes: avatar.maxBytes };
}

/**
 * Composition root of POST /user/profile: the user row and WeChat's content check, over the
 * access token shared with the phone function (sealed in Redis; SECURITY.md says why this
 * function reads the AppSecret).
 */
export function composeNickname(env: Env = process.env): { logger: Logger; metrics: Metrics; nicknames: NicknameService } {
  const dynamo = loadDynamoConfig(env);
  const redisConfig = loadRedisConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const metrics = createMetrics(log.serviceName);
  const redis = createRedisClient(redisConfig);
  // Each app's own access token: the check names the session's openid, in its app.
  const { apps, apiOf: checkOf } = composeWechatApis(env, { redis, keyPrefix: redisConfig.keyPrefix, logger, metrics }, (api) => createWechatContentCheck(api));
  const users = new DynamoUserRepository(createDynamoClient(dynamo), loadUsersTable(env));
  const nicknames = new NicknameService({
    // msg_sec_check takes a mini-program user's openid.
    checkApp: (appid) => requireMiniProgram(apps, appid, 'Setting the nickname'),
    users,
    identities: users,
    content: { checkText: (openid, content, appid) => checkOf(appid).checkText(openid, content) },
    avatarUrlOf: loadAvatarUrl(env),
  });
  return { logger, metrics, nicknames };
}
