import { composeWechatApis } from '../wechat-apis';
import { createDynamoClient } from '../adapters/dynamodb';
import { createRedisClient } from '../adapters/redis';
import { requireMiniProgram } from '../apps';
import { loadDynamoConfig, loadLogConfig, loadRedisConfig, loadUsersTable, type Env } from '../config';
import { loadPhoneConfig } from './config';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { createWechatPhone, maskPhone } from '../adapters/wechat-phone';
import { RedisPhoneCodeStore } from '../adapters/redis-phone-codes';
import { DynamoPhoneRepository } from '../adapters/dynamodb-phones';
import { DynamoUserRepository } from '../adapters/dynamodb-users';
import { writeBudgetMs } from '../users/ports';
import { PhoneService } from './service';

/**
 * Composition root of the phone function: DynamoDB (claims and user rows), Redis (code results,
 * the attempt limit, the shared access token) and WeChat's server API. It holds the AppSecret:
 * the access token is fetched with it, and sealed in Redis under a key derived from it.
 */
export function composePhone(env: Env = process.env): { logger: Logger; metrics: Metrics; service: PhoneService } {
  const dynamo = loadDynamoConfig(env);
  const usersTable = loadUsersTable(env);
  const redisConfig = loadRedisConfig(env);
  const phone = loadPhoneConfig(env);
  const log = loadLogConfig(env);
  const logger = createLogger({ level: log.logLevel, service: log.serviceName });
  const metrics = createMetrics(log.serviceName);
  const redis = createRedisClient(redisConfig);
  const dynamoClient = createDynamoClient(dynamo);
  // Each app's own access token: a number is verified in the session's app (docs/identities.md).
  const { apps, apiOf: phoneOf } = composeWechatApis(env, { redis, keyPrefix: redisConfig.keyPrefix, logger, metrics }, (api, appId) => createWechatPhone(api, { appId }));
  const service = new PhoneService({
    // A number's code comes from a mini-program's button: a 公众号's or an App's session has none.
    checkApp: (appid) => requireMiniProgram(apps, appid, 'Binding a phone number'),
    wechat: { getPhoneNumber: (code, openid, appid) => phoneOf(appid).getPhoneNumber(code, openid) },
    phones: new DynamoPhoneRepository(dynamoClient, { phones: phone.phonesTable, users: usersTable }),
    leases: new DynamoUserRepository(dynamoClient, usersTable),
    writeBudgetMs: writeBudgetMs(dynamo.timeoutMs),
    codes: new RedisPhoneCodeStore(redis, redisConfig.keyPrefix, redisConfig.token),
    conflict: phone.conflict,
    limit: phone.limit,
    mask: maskPhone,
  });
  return { logger, metrics, service };
}
