import { createDynamoClient } from '../adapters/dynamodb';
import { createTransport, Rehearsal } from '../adapters/http';
import { createRedisClient } from '../adapters/redis';
import { appsOfKind, loadApps, loadAppSecrets, type AppKind } from '../apps';
import { loadConfig, loadUnionidsTable, type Env } from '../config';
import type { Priming } from '../runtime';
import { ulid } from '../ids';
import { createLogger, type Logger } from '../logger';
import { createMetrics, type Metrics } from '../metrics';
import { RedisSessionStore } from '../adapters/redis-sessions';
import { DynamoUserRepository } from '../adapters/dynamodb-users';
import { HttpWechatAuth } from '../adapters/wechat-login';
import { createUserEvents } from '../account/events';
import { finishAccountDeletion } from '../account/service';
import { phoneKeysOf } from '../adapters/redis-phone-codes';
import { loginRehearsal } from './prime';
import { LoginService } from './service';

export interface LoginDeps {
  logger: Logger;
  metrics: Metrics;
  /** The mini-program's login (POST /user/wechatlogin). */
  service: LoginService;
  /** The OAuth logins: a 公众号 page's (POST /user/wechatlogin/web) and an App's (/app). */
  serviceFor: (kind: Exclude<AppKind, 'miniprogram'>) => LoginService | undefined;
  priming?: Priming;
}

/** The login function's composition root: real adapters over clients made once per container. */
export function composeLogin(env: Env = process.env): LoginDeps {
  const config = loadConfig(env);
  const apps = loadApps(env);
  const secrets = loadAppSecrets(env, apps);
  const logger = createLogger({ level: config.logLevel, service: config.serviceName });
  const metrics = createMetrics(config.serviceName);
  // Every client over one transport whose interceptor is the rehearsal's (lib/login/prime.ts):
  // the same clients serve the rehearsal and the real requests.
  const rehearsal = new Rehearsal();
  const transport = createTransport(rehearsal.interceptor);
  const users = new DynamoUserRepository(createDynamoClient(config.dynamodb, transport), config.usersTable, loadUnionidsTable(env));
  const sessions = new RedisSessionStore(createRedisClient(config.redis, transport), {
    keyPrefix: config.redis.keyPrefix,
    userIndexTtlSeconds: config.session.maxAgeSeconds,
    maxSessionsPerUser: config.session.maxPerUser,
    loginLogDays: config.session.loginLogDays,
  });
  const events = createUserEvents(env, logger);
  // One service per kind of app over the shared clients; `metrics` is the function's, or the rehearsal's.
  const build = (metrics: Metrics, kind: AppKind = 'miniprogram') => {
    const exchange = (appId: string) =>
      new HttpWechatAuth({
        ...config.wechat,
        // A 公众号's or an App's OAuth code, else a mini-program's wx.login() code.
        grant: kind === 'miniprogram' ? 'jscode2session' : 'oauth2',
        appId,
        appSecret: secrets.get(appId)!,
        transport,
        onExchange: (ms, outcome) => metrics.put('WechatLatency', ms, 'Milliseconds', { WechatOutcome: outcome }),
      });
    // The default app of the kind: the deployment's own for a mini-program, else the only one.
    const ofKind = appsOfKind(apps, kind);
    const defaultApp = kind === 'miniprogram' ? apps.defaultApp : ofKind.length === 1 ? ofKind[0] : undefined;
    return new LoginService({
      ...(defaultApp ? { wechat: exchange(defaultApp.appId), appId: defaultApp.appId } : {}),
      moreApps: new Map(ofKind.filter((app) => app !== defaultApp).map((app) => [app.appId, exchange(app.appId)])),
      kind,
      users,
      sessions,
      newId: (now) => ulid(now.getTime()),
      session: config.session,
      rateLimit: config.loginRateLimit,
      onLogin: (isNewUser) => metrics.put('Logins', 1, 'Count', { UserType: isNewUser ? 'New' : 'Returning' }),
      onUnionConflict: () => metrics.put('UnionidConflicts', 1, 'Count'),
      // The login log is written by the commit itself; when neither it nor the release answered,
      // whether this attempt has its entry is unknown (docs/operators.md, "The login log").
      onLoginUnrecorded: () => metrics.put('LoginLogUnknown', 1, 'Count'),
      // A deletion that stopped after its tombstone is finished by the user's next login.
      finishDeletion: finishAccountDeletion({
        sessions,
        users,
        events,
        phoneKeys: (userId) => phoneKeysOf(config.redis.keyPrefix, userId),
      }),
    });
  };
  // POST /user/wechatlogin/web (a 公众号 page's OAuth code) and /app (an App's).
  const web = build(metrics, 'officialAccount');
  const app = build(metrics, 'mobileApp');
  return {
    logger,
    metrics,
    service: build(metrics),
    serviceFor: (kind) => (kind === 'officialAccount' ? web : kind === 'mobileApp' ? app : undefined),
    // At initialisation (lib/runtime.ts): a login rehearsed over recorded answers, while the
    // connections it addresses are opened (lib/login/prime.ts). Both take work out of the first
    // request; docs/performance.md has the figures.
    priming: {
      rehearsal: loginRehearsal((quiet) => ({ ...quiet, service: build(quiet.metrics) }), config.serviceName, rehearsal),
    },
  };
}
