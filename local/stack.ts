import { randomBytes } from 'node:crypto';
import { LOCAL_AWS_ENV, startDynamo, type RunningDynamo } from './dynamodb';
import { startRedis, type RunningRedis } from './redis-server';
import { isSecureString } from '../lib/secrets';
import { startS3, type RunningS3 } from './s3';
import { startSsmStub, type RunningSsmStub } from './ssm-stub';
import { startUpstashGateway, type RunningGateway } from './upstash-gateway';
import { readDeclarations, tableEnvironment, type Declarations } from './template';
import { startWechatStub, type RunningWechatStub } from './wechat-stub';

export interface LocalStack {
  /** The environment the functions need to run against this stack. */
  env: Record<string, string>;
  dynamo: RunningDynamo;
  redis: RunningRedis;
  gateway: RunningGateway;
  wechat: RunningWechatStub;
  s3: RunningS3;
  /** What the template declares, which the stack was built from (local/template.ts). */
  declarations: Declarations;
  /**
   * SSM Parameter Store's stand-in, holding the stack's settings under the parameter names the
   * template gives the functions (`WECHAT_SECRET_PARAMETER`…), each a SecureString or a String
   * as lib/secrets.ts says it must be stored. `env` sets the values directly and never asks it.
   */
  ssm: RunningSsmStub;
  /** Each setting read from SSM in production: its parameter's name, its type and the stack's value. */
  parameters: Record<string, { name: string; type: 'String' | 'SecureString'; value: string }>;
  /** `env` as `fn` is deployed: its parameter-backed settings named by parameter only, read from `ssm`. */
  fromSsm(fn: string): Record<string, string>;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Defaults to process.env: WECHAT_APPID, WECHAT_SECRET, WECHAT_PUSH_TOKEN, WECHAT_PUSH_AES_KEY, REDIS_URL, SESSION_TTL_SECONDS, … are honoured. */
  env?: Record<string, string | undefined>;
}

/**
 * Everything the service talks to, on this machine, on free ports: DynamoDB (dynalite, in
 * memory), Redis (redis-server behind an Upstash-compatible gateway), a WeChat stub and the
 * avatars bucket (an S3 stand-in, in memory, which also serves the files as the CDN would).
 *
 * The tables and the bucket's lifecycle are the template's (local/template.ts): every table a
 * file in deploy/ declares is created, with its keys and indexes, under the name the local
 * stage gives it, and `env` names each table by the variable its functions read it from.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const appId = env.WECHAT_APPID || 'wx0000000000local';
  // A fresh secret per run unless one is given: no shared default that could be mistaken for a real one.
  const appSecret = env.WECHAT_SECRET || randomBytes(16).toString('hex');
  // A second mini-program, bound with the first to the stub's open platform (docs/identities.md):
  // the same NAME has another openid in it and, with a `.union…` code, the same unionid.
  const mini2 = env.WECHAT_APPID_MINI2 || 'wx00000000000mini2';
  // And a 公众号, whose H5 pages log in with WeChat's web OAuth, and an App: the same open platform.
  const web = env.WECHAT_APPID_WEB || 'wx000000000000web1';
  const app = env.WECHAT_APPID_APP || 'wx000000000000app1';
  const more = { [mini2]: 'miniprogram', [web]: 'officialAccount', [app]: 'mobileApp' } as const;
  // Each app's own AppSecret, push Token and EncodingAESKey, fresh per run.
  const own = Object.fromEntries(
    Object.keys(more).map((appid) => [appid, { secret: randomBytes(16).toString('hex'), pushToken: randomBytes(16).toString('hex'), pushAesKey: randomBytes(32).toString('base64').slice(0, 43) }]),
  );
  const restToken = randomBytes(24).toString('base64url');
  // The message push's Token and EncodingAESKey, as the console would hold them: fresh per run
  // unless given, and printed by `npm run dev` so that a developer can sign test pushes.
  const pushToken = env.WECHAT_PUSH_TOKEN || randomBytes(16).toString('hex');
  const pushAesKey = env.WECHAT_PUSH_AES_KEY || randomBytes(32).toString('base64').slice(0, 43);

  const started: { close(): Promise<void> }[] = [];
  const stop = async () => {
    for (const service of started.reverse()) await service.close().catch(() => {});
  };
  try {
    const declarations = await readDeclarations();
    const tables = tableEnvironment(declarations);
    const dynamo = await startDynamo({ tables: declarations.tables });
    started.push(dynamo);
    const redis = await startRedis({ url: env.REDIS_URL });
    started.push(redis);
    const gateway = await startUpstashGateway({ redis: redis.address, token: restToken });
    started.push(gateway);
    const wechat = await startWechatStub({ appId, appSecret, moreApps: Object.fromEntries(Object.entries(more).map(([appid, kind]) => [appid, { secret: own[appid]!.secret, kind }])) });
    started.push(wechat);
    // It checks each request's SigV4 signature against the credentials and region the
    // functions get below, as S3 would against their role's.
    const avatars = declarations.buckets.find((bucket) => bucket.id === 'AvatarsBucket');
    const s3 = await startS3({
      // No name in the template (CloudFormation picks one on AWS): the stage's, as a table's.
      bucket: `${declarations.service}-${declarations.stage}-avatars`,
      lifecycle: avatars?.lifecycle ?? [],
      region: LOCAL_AWS_ENV.AWS_REGION,
      credentials: { accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY },
    });
    started.push(s3);

    const stackEnv: Record<string, string> = {
      ...LOCAL_AWS_ENV,
      WECHAT_APPID: appId,
      WECHAT_SECRET: appSecret,
      WECHAT_APPS: Object.entries(more)
        .map(([appid, kind]) => (kind === 'miniprogram' ? appid : `${appid}:${kind}`))
        .join(','),
      ...Object.fromEntries(
        Object.keys(more).flatMap((appid) => [
          [`WECHAT_SECRET_${appid}`, own[appid]!.secret],
          [`WECHAT_PUSH_TOKEN_${appid}`, own[appid]!.pushToken],
          [`WECHAT_PUSH_AES_KEY_${appid}`, own[appid]!.pushAesKey],
        ]),
      ),
      WECHAT_APPID_MINI2: mini2,
      WECHAT_APPID_WEB: web,
      WECHAT_APPID_APP: app,
      WECHAT_PUSH_TOKEN: pushToken,
      WECHAT_PUSH_AES_KEY: pushAesKey,
      WECHAT_API_BASE: wechat.url,
      ...tables,
      // UserDeleted is logged locally, not published.
      USER_EVENTS: 'log',
      DYNAMODB_ENDPOINT: dynamo.url,
      UPSTASH_REDIS_REST_URL: gateway.url,
      UPSTASH_REDIS_REST_TOKEN: restToken,
      AVATAR_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.url,
      // The stand-in serves the bucket's files unsigned, so an avatarUrl opens locally.
      AVATAR_BASE_URL: s3.publicUrl,
    };
    for (const name of [
      'SESSION_TTL_SECONDS',
      'SESSION_MAX_AGE_SECONDS',
      'LOGIN_RATE_LIMIT',
      'LOGIN_RATE_WINDOW_SECONDS',
      'MAX_SESSIONS_PER_USER',
      'LOGIN_LOG_RETENTION_DAYS',
      'OPENDATA_MAX_AGE_SECONDS',
      'OPENDATA_CHECK_LIMIT',
      'OPENDATA_CHECK_WINDOW_SECONDS',
      'LOG_LEVEL',
      'WECHAT_TIMEOUT_MS',
      'WECHAT_DEADLINE_MS',
      'PHONE_CONFLICT',
      'PHONE_BIND_LIMIT',
      'PHONE_BIND_WINDOW_SECONDS',
      'AVATAR_MAX_BYTES',
      'AVATAR_UPLOAD_LIMIT',
      'AVATAR_UPLOAD_WINDOW_SECONDS',
    ]) {
      const value = env[name];
      if (value) stackEnv[name] = value;
    }
    const parameters: LocalStack['parameters'] = {};
    for (const variables of Object.values(declarations.parameterVariables)) {
      for (const [variable, name] of Object.entries(variables)) {
        const value = stackEnv[variable];
        if (value === undefined) throw new Error(`the template reads ${variable} from SSM (${name}), which the local stack does not provide`);
        parameters[variable] = { name, type: isSecureString(variable) ? 'SecureString' : 'String', value };
      }
    }
    const ssm = await startSsmStub({
      region: LOCAL_AWS_ENV.AWS_REGION,
      credentials: { accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY },
      parameters: Object.fromEntries(Object.values(parameters).map(({ name, value }) => [name, value])),
      types: Object.fromEntries(Object.values(parameters).map(({ name, type }) => [name, type])),
    });
    started.push(ssm);
    const fromSsm = (fn: string) => {
      const own = declarations.parameterVariables[fn];
      if (!own) throw new Error(`the template gives function ${fn} no SSM parameter`);
      const env: Record<string, string> = { ...stackEnv, SSM_ENDPOINT: ssm.url };
      for (const variable of Object.keys(parameters)) env[variable] = '';
      for (const [variable, name] of Object.entries(own)) env[`${variable}_PARAMETER`] = name;
      return env;
    };
    return { env: stackEnv, dynamo, redis, gateway, wechat, s3, declarations, ssm, parameters, fromSsm, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
