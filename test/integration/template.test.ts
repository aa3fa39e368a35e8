import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageService } from '../../local/package-functions';
import {
  DEFAULT_ROLE,
  XRAY as xray,
  functionRoles,
  functionRuleViolations,
  holds,
  resolve,
  statementsOf,
  tableRuleViolations,
  type Template,
} from '../support/template-rules';

/**
 * Why the cfn-lint test cannot run here, or undefined when it can. cfn-lint is AWS's
 * CloudFormation linter; it comes from PyPI, which a CI machine may not reach.
 */
const cfnLintMissing = (() => {
  const probe = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `cfn-lint is not on PATH (${(probe.error as NodeJS.ErrnoException).code}); \`pip install cfn-lint\` to run this test`;
  // A version manager's shim may exist without the tool behind it.
  if (probe.status !== 0) return `\`cfn-lint --version\` failed (exit ${probe.status}): ${probe.stderr.trim().split('\n')[0]}`;
  return undefined;
})();

/** The files under `dir` that the template is built from (YAML and the JS file variables), relative to the checkout. */
function deployFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ya?ml|c?js)$/.test(entry.name))
    .map((entry) => relative(process.cwd(), join(entry.parentPath, entry.name)));
}

/**
 * `serverless package --stage prod`, offline and without AWS credentials, and the shape of
 * the CloudFormation template it produces: what a platform team would check in review. Beside
 * it, for comparison: prod packaged again without deploy-time variables, prod with `--param`
 * overrides, and stage dev.
 */
describe('Packaged template, stage prod (integration)', () => {
  const work = mkdtempSync(join(tmpdir(), 'wxlogin-template-'));
  const artifacts = join(work, 'prod');
  // Planted in the environment of the packaging run: none of them may end up in the output.
  const planted = {
    WECHAT_SECRET: `planted-secret-${process.pid}`,
    UPSTASH_REDIS_REST_TOKEN: `planted-token-${process.pid}`,
    WECHAT_PUSH_TOKEN: `plantedPushToken${process.pid}`,
    WECHAT_PUSH_AES_KEY: `plantedPushAesKey${process.pid}`.padEnd(43, 'Q'),
  };
  // Deploy-time variables a shell may carry (a developer's exports, a CI job's leftovers), each
  // looser than prod or pointing elsewhere. Prod takes its settings from the stage alone, so
  // none of them may change its template; the other stages still honour them.
  const loosened: Record<string, string> = {
    LOGIN_RATE_LIMIT: '0',
    LOGIN_RATE_WINDOW_SECONDS: '1',
    AUTHORIZER_CACHE_TTL_SECONDS: '300',
    SESSION_TTL_SECONDS: '31536000',
    SESSION_MAX_AGE_SECONDS: '315360000',
    LOG_LEVEL: 'debug',
    USERS_TABLE: 'scratch-table',
    PHONES_TABLE: 'scratch-phones',
    PHONE_CONFLICT: 'move',
    PHONE_BIND_LIMIT: '0',
    PHONE_BIND_WINDOW_SECONDS: '1',
    USER_EVENTS: 'log',
    AVATAR_MAX_BYTES: '2097152',
    AVATAR_UPLOAD_LIMIT: '0',
    AVATAR_UPLOAD_WINDOW_SECONDS: '60',
    WECHAT_PUSH_PLAINTEXT: 'accept',
    AVATAR_BUCKET: 'scratch-avatars',
    AVATAR_BASE_URL: 'http://scratch.example',
    WECHAT_APPS: 'wx5555555555555555',
    H5_ORIGINS: 'https://h5.scratch.example',
    MAX_SESSIONS_PER_USER: '0',
    LOGIN_LOG_RETENTION_DAYS: '0',
    OPENDATA_MAX_AGE_SECONDS: '86400',
    OPENDATA_CHECK_LIMIT: '1000',
    OPENDATA_CHECK_WINDOW_SECONDS: '1',
  };
  let template: Template;
  /** The same prod package without any of `loosened` in the environment. */
  let cleanTemplate: Template;
  /** Stage dev, packaged with `loosened` exported. */
  let devTemplate: Template;
  /** Prod with `loosened` exported and settings overridden with `--param`, the avatar CDN's own domain among them. */
  let paramTemplate: Template;
  /** Prod in the China regions (`--region cn-north-1`, partition aws-cn), with a filed domain and an IAM server certificate. */
  let chinaTemplate: Template;
  let chinaRaw = '';
  let prodRaw = '';
  const chinaParams = { avatarDomain: 'img.example.cn', avatarIamCertificateId: 'ASCACKCEVSQ6C2EXAMPLE' };
  const overrides = {
    loginRateLimit: '120',
    throttlingBurstLimit: '500',
    alarmTopicArn: 'arn:aws:sns:ap-southeast-1:123456789012:wechat-login-alarms',
    avatarDomain: 'img.example.com',
    avatarCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
    keepWarm: 'true',
    h5Origins: 'https://h5.example.com,https://m.example.com:8443',
  };
  let everything = '';
  const bundles: Record<string, string> = {};
  const resources = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  const resource = (id: string) => template.Resources[id];
  /** The role of a shipped function, by its logical id's stem (`Login` for LoginLambdaFunction). */
  const role = (fn: string) => resource(`${fn}LambdaFunction`).Properties.Role['Fn::GetAtt'][0] as string;

  /** The packaging run's environment without AWS credentials and without any of `loosened`. */
  function bareEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) if (name.startsWith('AWS_') || name in loosened) delete env[name];
    return env;
  }

  const templateFile = (name: string) => join(work, name, 'cloudformation-template-update-stack.json');

  /**
   * Packages into `work/<name>` and reads the template. Each run puts its code under an S3 folder
   * named after the time of packaging; that name is replaced so two runs can be compared.
   */
  async function packageTemplate(name: string, stage: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ raw: string; template: Template }> {
    await packageService(process.cwd(), join(work, name), env, stage, args);
    const raw = readFileSync(templateFile(name), 'utf8');
    return { raw, template: JSON.parse(raw.replace(/("S3Key": "serverless\/[^/]+\/[^/]+\/)\d+-[^/"]+\//g, '$1<packaged-at>/')) };
  }

  /**
   * A file planted in each of the checkout's build folders before packaging: what a developer's
   * own `npx serverless package` left there for review. Packaging here must leave it alone.
   */
  const markers = ['.serverless', '.esbuild'].map((dir) => ({
    dir,
    created: !existsSync(dir),
    file: join(dir, `template-test-marker-${process.pid}`),
  }));

  beforeAll(async () => {
    for (const { dir, file } of markers) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, 'left for review\n');
    }
    const params = Object.entries(overrides).map(([name, value]) => `--param=${name}=${value}`);
    // Side by side: each run packages a private copy of the service (local/package-functions.ts).
    const [prod, clean, dev, withParams, china] = await Promise.all([
      packageTemplate('prod', 'prod', { ...bareEnv(), ...planted, ...loosened }),
      packageTemplate('prod-clean', 'prod', bareEnv()),
      packageTemplate('dev', 'dev', { ...bareEnv(), ...loosened }),
      packageTemplate('prod-param', 'prod', { ...bareEnv(), ...loosened }, params),
      packageTemplate('prod-cn', 'prod', bareEnv(), ['--region', 'cn-north-1', ...Object.entries(chinaParams).map(([name, value]) => `--param=${name}=${value}`)]),
    ]);
    chinaTemplate = china.template;
    chinaRaw = china.raw;
    const raw = prod.raw;
    prodRaw = prod.raw;
    template = prod.template;
    cleanTemplate = clean.template;
    devTemplate = dev.template;
    paramTemplate = withParams.template;
    everything = raw;
    for (const file of readdirSync(artifacts).filter((f) => f.endsWith('.zip'))) {
      const zip = await JSZip.loadAsync(readFileSync(join(artifacts, file)));
      for (const entry of Object.values(zip.files)) {
        const text = await entry.async('string');
        everything += text;
        if (entry.name.endsWith('.mjs')) bundles[file.replace('.zip', '')] = text;
      }
    }
  }, 480_000);
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    for (const { dir, created, file } of markers) {
      rmSync(file, { force: true });
      if (created) {
        try {
          rmdirSync(dir); // only if still empty: never what another run put there meanwhile
        } catch {}
      }
    }
  });

  it('packages in a private folder: the checkout’s .serverless/ and .esbuild/ stay as they were', () => {
    for (const { file } of markers) expect(readFileSync(file, 'utf8'), file).toBe('left for review\n');
  });

  it('takes prod’s settings from the stage alone: the same template with or without deploy-time variables', () => {
    expect(template).toEqual(cleanTemplate);
    const login = resource('LoginLambdaFunction').Properties.Environment.Variables;
    for (const [name, value] of Object.entries(loosened)) if (name in login) expect(login[name], name).not.toBe(value);
    const avatar = resource('AvatarLambdaFunction').Properties.Environment.Variables;
    for (const [name, value] of Object.entries(loosened)) if (name in avatar) expect(avatar[name], name).not.toBe(value);
  });

  it('keeps the environment fallbacks on every other stage (npm run dev and the tests rely on them)', () => {
    // Also shows that `loosened` did reach the packaging runs: prod ignoring it is not for want of it.
    const login = devTemplate.Resources.LoginLambdaFunction.Properties.Environment.Variables;
    for (const name of ['LOGIN_RATE_LIMIT', 'LOGIN_RATE_WINDOW_SECONDS', 'SESSION_TTL_SECONDS', 'SESSION_MAX_AGE_SECONDS', 'LOG_LEVEL']) {
      expect(login[name], name).toBe(loosened[name]);
    }
    // Table names are no setting: every stage's own, whatever the environment says.
    expect(login.USERS_TABLE).toBe('wechat-login-dev-users');
    expect(devTemplate.Resources.UsersTable.Properties.TableName).toBe('wechat-login-dev-users');
    // npm run dev and the tests point the avatar function at the S3 stand-in this way.
    const avatar = devTemplate.Resources.AvatarLambdaFunction.Properties.Environment.Variables;
    expect(avatar.AVATAR_BUCKET).toBe(loosened.AVATAR_BUCKET);
    expect(avatar.AVATAR_BASE_URL).toBe(loosened.AVATAR_BASE_URL);
    const [authorizer] = Object.values(devTemplate.Resources).filter((r: any) => r.Type === 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizer.Properties.AuthorizerResultTtlInSeconds).toBe(Number(loosened.AUTHORIZER_CACHE_TTL_SECONDS));
  });

  it('lets an explicit --param override a prod setting, and nothing else', () => {
    const login = paramTemplate.Resources.LoginLambdaFunction.Properties.Environment.Variables;
    expect(login.LOGIN_RATE_LIMIT).toBe(overrides.loginRateLimit);
    // The rest stays prod's, environment or not.
    expect(login.LOG_LEVEL).toBe(resource('LoginLambdaFunction').Properties.Environment.Variables.LOG_LEVEL);
    expect(login.USERS_TABLE).toBe('wechat-login-prod-users');
  });

  it('reads no deploy-time variable that prod could be changed by, other than the build’s own', () => {
    // A new `${env:…}` must be one the first test proves prod ignores, or one of these, which
    // choose how and where to build and deploy rather than what runs.
    const buildOnly = [
      'AWS_REGION', // where to deploy, like the credentials
      'ESBUILD_WORK_FOLDER', // a private build folder per local run
    ];
    const sources = ['serverless.yml', ...deployFiles('deploy')];
    const read = sources.flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\benv:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => ({ file, name: m[1]! })));
    expect(read.length).toBeGreaterThan(0);
    const unknown = read.filter(({ name }) => ![...Object.keys(loosened), ...buildOnly].includes(name));
    expect(
      unknown.map(({ file, name }) => `${file} reads \${env:${name}}: a setting is a param with a literal prod value (serverless.yml, params.prod) read as \${param:…}, so no deploy-time environment changes prod; then add ${name} to \`loosened\` in test/integration/template.test.ts`),
    ).toEqual([]);
  });

  it('holds every function, shipped or added, to the same rules: nodejs22.x, arm64, traced, a role and a log group of its own', () => {
    expect(functionRuleViolations(template, { retentionInDays: 90, tracing: true })).toEqual([]);
    expect(functionRuleViolations(devTemplate, { retentionInDays: 30, tracing: false })).toEqual([]);
  });

  it('holds every table, shipped or added, to the same rules: on demand, recoverable, encrypted, kept, the stage’s own', () => {
    expect(resources('AWS::DynamoDB::Table').length).toBeGreaterThanOrEqual(2);
    expect(tableRuleViolations(template, { prefix: 'wechat-login-prod-' })).toEqual([]);
    expect(tableRuleViolations(devTemplate, { prefix: 'wechat-login-dev-' })).toEqual([]);
  });

  it('runs the shipped functions with their roles, memory and timeouts', () => {
    const functions = resources('AWS::Lambda::Function');
    // Those shipped; a function of the user's own beside them is held to functionRuleViolations' rules.
    expect(functions.map(([id]) => id)).toEqual(expect.arrayContaining([
      'AuthorizerLambdaFunction',
      'AvatarLambdaFunction',
      'LoginLambdaFunction',
      'LogoutLambdaFunction',
      'MeLambdaFunction',
      'PhoneLambdaFunction',
      'ProfileLambdaFunction',
      'DeleteAccountLambdaFunction',
      'ExportAccountLambdaFunction',
      'WechatEventsLambdaFunction',
    ]));
    // Each its own role, built from the `iamRoleStatements` of its file in deploy/routes/.
    const roles = functions.map(([id]) => resource(id).Properties.Role['Fn::GetAtt'][0]);
    expect(new Set(roles).size).toBe(functions.length);
    for (const [id] of functions) expect(role(id.replace(/LambdaFunction$/, ''))).toBe(id.replace(/LambdaFunction$/, 'IamRoleLambdaExecution'));
    // The framework's shared role is gone once no function uses it (deploy/default-role.cjs).
    expect(resource(DEFAULT_ROLE)).toBeUndefined();
    expect(resource('LoginLambdaFunction').Properties).toMatchObject({ MemorySize: 512, Timeout: 20 });
    expect(resource('AvatarLambdaFunction').Properties).toMatchObject({ MemorySize: 256, Timeout: 28 });
    expect(resource('ProfileLambdaFunction').Properties).toMatchObject({ MemorySize: 256, Timeout: 15 });
    // WeChat gives up on an answer after 5 s and pushes again.
    expect(resource('WechatEventsLambdaFunction').Properties).toMatchObject({ MemorySize: 256, Timeout: 5 });
  });

  it('gives each role only the actions its functions call, on only the table’s ARN', () => {
    const statements = (role: string) => statementsOf(template, role);
    const dynamo = (role: string) => statements(role).filter((s: any) => s.Action.some((a: string) => a.startsWith('dynamodb:')));
    expect(dynamo(role('Login')).slice(0, 2)).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem'], Resource: { 'Fn::GetAtt': ['UsersTable', 'Arn'] } },
      // A unionid's claim (docs/identities.md).
      { Effect: 'Allow', Action: ['dynamodb:UpdateItem', 'dynamodb:GetItem'], Resource: { 'Fn::GetAtt': ['UnionidsTable', 'Arn'] } },
    ]);
    // The home row, and the user's identities by the byUser index only.
    const byUser = { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['UsersTable', 'Arn'] }, '/index/byUser']] };
    expect(dynamo(role('Me'))).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: { 'Fn::GetAtt': ['UsersTable', 'Arn'] } },
      { Effect: 'Allow', Action: ['dynamodb:Query'], Resource: byUser },
    ]);
    expect(dynamo(role('Authorizer'))).toEqual([]);
    expect(dynamo(role('Logout'))).toEqual([]);
    expect(dynamo(role('Phone'))).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:DeleteItem'], Resource: { 'Fn::GetAtt': ['PhonesTable', 'Arn'] } },
      { Effect: 'Allow', Action: ['dynamodb:UpdateItem', 'dynamodb:GetItem'], Resource: { 'Fn::GetAtt': ['UsersTable', 'Arn'] } },
    ]);
    // The row's write, and the user's identities for the profile they answer with.
    const userRowWrite = [
      { Effect: 'Allow', Action: ['dynamodb:UpdateItem'], Resource: { 'Fn::GetAtt': ['UsersTable', 'Arn'] } },
      { Effect: 'Allow', Action: ['dynamodb:Query'], Resource: byUser },
    ];
    expect(dynamo(role('Avatar'))).toEqual(userRowWrite);
    expect(dynamo(role('Profile'))).toEqual(userRowWrite);
    // No `*` action and no `*` resource but X-Ray's, in any function's role: functionRuleViolations.
    const ssm = (role: string) => statements(role).filter((s: any) => s.Action.includes('ssm:GetParameters')).flatMap((s: any) => s.Resource.map((r: any) => r['Fn::Sub']));
    // The AppID and AppSecret, each extra app's AppSecret (one ARN for all: apps/*/wechat-secret), Upstash.
    expect(ssm(role('Login'))).toHaveLength(5);
    expect(ssm(role('Login'))).toContainEqual(expect.stringMatching(/:parameter\/wechat-login\/prod\/apps\/\*\/wechat-secret$/));
    // The authorizer: Upstash, and the AppID (a String) for sessions that kept no app; no AppSecret.
    expect(ssm(role('Authorizer')).map((arn: string) => arn.split(':parameter')[1])).toEqual(['/wechat-login/prod/wechat-appid', '/wechat-login/prod/upstash-redis-rest-url', '/wechat-login/prod/upstash-redis-rest-token']);
    expect(ssm(role('Logout')).every((arn: string) => arn.includes('/wechat-login/prod/upstash-redis-rest-'))).toBe(true);
    expect(ssm(role('Logout'))).toHaveLength(2);
    // The phone function reads the AppID and AppSecret for WeChat's access token (SECURITY.md);
    // the nickname's content check uses that token too.
    expect(ssm(role('Phone'))).toEqual(ssm(role('Login')));
    expect(ssm(role('Profile'))).toEqual(ssm(role('Login')));
    expect(ssm(role('Avatar'))).toEqual([]);
    // The message push: its Token and EncodingAESKey, the AppID, Upstash; no AppSecret (it calls no WeChat API).
    expect(ssm(role('WechatEvents')).map((arn: string) => arn.split(':parameter')[1]).sort()).toEqual(
      ['wechat-appid', 'wechat-push-aes-key', 'wechat-push-token', 'upstash-redis-rest-token', 'upstash-redis-rest-url', 'apps/*/wechat-push-token', 'apps/*/wechat-push-aes-key']
        .map((name) => `/wechat-login/prod/${name}`)
        .sort(),
    );
    // WeChat's events run the deletion's code (no re-authentication: WeChat signed them), so the same table actions.
    expect(dynamo(role('WechatEvents'))).toEqual(dynamo(role('DeleteAccount')));
    // The deletion finds a user's claims by the phones table's byUser index, and only there.
    // ...and the user's identities and unionid claims by the byUser indexes of theirs (docs/identities.md).
    expect(dynamo(role('DeleteAccount')).filter((s: any) => s.Action.includes('dynamodb:Query'))).toEqual(
      ['PhonesTable', 'UsersTable', 'UnionidsTable'].map((table) => ({ Effect: 'Allow', Action: ['dynamodb:Query'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/byUser']] } })),
    );
    // Each role writes the log group of its own functions only (functionRuleViolations, for every role); for instance:
    const logs = (role: string) => statements(role).filter((s: any) => s.Action.includes('logs:PutLogEvents')).flatMap((s: any) => [s.Resource].flat().map((r: any) => r['Fn::Sub']));
    expect(logs(role('Avatar'))).toEqual([expect.stringMatching(/:log-group:\/aws\/lambda\/wechat-login-prod-avatar:\*:\*$/)]);
    expect(logs(role('Profile'))).toEqual([expect.stringMatching(/:log-group:\/aws\/lambda\/wechat-login-prod-profile:\*:\*$/)]);
    expect(logs(role('WechatEvents'))).toEqual([expect.stringMatching(/:log-group:\/aws\/lambda\/wechat-login-prod-wechatEvents:\*:\*$/)]);
  });

  it('lets only the avatar function touch the bucket: its files and listing under avatars/, no read, no other key', () => {
    const s3 = (role: string) => statementsOf(template, role).filter((s: any) => s.Action.some((a: string) => a.startsWith('s3:')));
    const bucketArn = { 'Fn::GetAtt': ['AvatarsBucket', 'Arn'] };
    expect(s3(role('Avatar'))).toEqual([
      // A PutObject with tags needs s3:PutObjectTagging too; DeleteObjects is authorized key by key as s3:DeleteObject.
      { Effect: 'Allow', Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:DeleteObject'], Resource: { 'Fn::Join': ['', [bucketArn, '/avatars/*']] } },
      { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArn, Condition: { StringLike: { 's3:prefix': ['avatars/*'] } } },
    ]);
    // Deleting an account deletes the user's files: list and delete under avatars/, no write, no read.
    expect(s3(role('DeleteAccount'))).toEqual([
      { Effect: 'Allow', Action: ['s3:DeleteObject'], Resource: { 'Fn::Join': ['', [bucketArn, '/avatars/*']] } },
      { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArn, Condition: { StringLike: { 's3:prefix': ['avatars/*'] } } },
    ]);
    // WeChat's cancellation and revoke events delete the same files.
    expect(s3(role('WechatEvents'))).toEqual(s3(role('DeleteAccount')));
    // The admin API's deletion of a suspended user (deploy/routes/admin.yml), the same rights.
    expect(s3(role('Admin'))).toEqual(s3(role('DeleteAccount')));
    for (const other of functionRoles(template).filter((r) => ![role('Avatar'), role('DeleteAccount'), role('WechatEvents'), role('Admin')].includes(r))) expect(s3(other), other).toEqual([]);
  });

  it('lets the deletion (the user’s, or the admin API’s), WeChat’s cancellation event and the login (finishing one) publish UserDeleted to the default bus only, and no one else publish', () => {
    const events = (role: string) => statementsOf(template, role).filter((s: any) => s.Action.some((a: string) => a.startsWith('events:')));
    const putEvents = [{ Effect: 'Allow', Action: ['events:PutEvents'], Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default' } }];
    expect(events(role('DeleteAccount'))).toEqual(putEvents);
    expect(events(role('Login'))).toEqual(putEvents);
    expect(events(role('WechatEvents'))).toEqual(putEvents);
    expect(events(role('Admin'))).toEqual(putEvents);
    for (const other of functionRoles(template).filter((r) => ![role('Login'), role('DeleteAccount'), role('WechatEvents'), role('Admin')].includes(r))) expect(events(other), other).toEqual([]);
    expect(resource('UsersTable').Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'purgeAt', Enabled: true });
  });

  it('grants X-Ray in each traced function’s own role, so no function is created before it may trace (prod), and not at all in dev', () => {
    expect(functionRoles(template)).toHaveLength(resources('AWS::Lambda::Function').length);
    for (const each of functionRoles(template)) expect(statementsOf(template, each).filter((s) => s.Action.some((a: string) => a.startsWith('xray:'))), each).toEqual([xray]);
    // A policy resource beside the roles is what a function's creation would not wait for.
    expect(resources('AWS::IAM::ManagedPolicy')).toEqual([]);
    expect(resources('AWS::IAM::Policy')).toEqual([]);

    const devFunctions = Object.values(devTemplate.Resources).filter((r: any) => r.Type === 'AWS::Lambda::Function');
    for (const fn of devFunctions) expect(fn.Properties.TracingConfig).toBeUndefined();
    for (const each of functionRoles(devTemplate)) expect(JSON.stringify(statementsOf(devTemplate, each)), each).not.toContain('xray:');
  });

  it.each([
    ['UsersTable', 'wechat-login-prod-users', 'openid'],
    ['PhonesTable', 'wechat-login-prod-phones', 'phone'],
  ])('keeps %s on demand, keyed as the code expects, recoverable, encrypted and protected from deletion', (id, name, key) => {
    const table = resource(id);
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(table.Properties).toMatchObject({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      DeletionProtectionEnabled: true,
      KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('indexes the phone claims by user, keys only, for the account deletion', () => {
    expect(resource('PhonesTable').Properties.GlobalSecondaryIndexes).toEqual([
      { IndexName: 'byUser', KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } },
    ]);
  });

  it('wires the session authorizer to the protected routes, caching off, and leaves login and WeChat’s message push open', () => {
    const authorizers = resources('AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0]!;
    expect(authorizer.Properties).toMatchObject({
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      AuthorizerResultTtlInSeconds: 0,
      IdentitySource: ['$request.header.Authorization'],
    });
    const routes = Object.fromEntries(resources('AWS::ApiGatewayV2::Route').map(([, r]) => [r.Properties.RouteKey, r.Properties]));
    const protectedRoutes = ['GET /user/me', 'GET /user/me/export', 'POST /user/avatar', 'POST /user/delete', 'POST /user/logout', 'POST /user/phone', 'POST /user/profile', 'GET /user/sessions', 'DELETE /user/sessions/{id}'];
    const pushRoutes = ['GET /wechat/events', 'POST /wechat/events', 'GET /wechat/events/{appid}', 'POST /wechat/events/{appid}'];
    const openRoutes = ['POST /user/wechatlogin', 'POST /user/wechatlogin/web', 'POST /user/wechatlogin/app', ...pushRoutes];
    expect(Object.keys(routes)).toEqual(expect.arrayContaining([...protectedRoutes, ...openRoutes]));
    // The admin API: AWS_IAM on every /admin route, and never the session authorizer (a session token gets nothing there).
    const adminRoutes = Object.keys(routes).filter((k) => k.split(' ')[1]!.startsWith('/admin'));
    expect(adminRoutes).toEqual(expect.arrayContaining(['GET /admin/users/{id}', 'PUT /admin/users/{id}/suspension', 'DELETE /admin/users/{id}/sessions/{session}', 'GET /admin/accounts/{id}/export', 'DELETE /admin/accounts/{id}']));
    for (const key of adminRoutes) {
      expect(routes[key].AuthorizationType, `route ${key} is an admin route without AWS_IAM: give its httpApi event \`authorizer: { type: aws_iam }\``).toBe('AWS_IAM');
      expect(routes[key].AuthorizerId, key).toBeUndefined();
    }
    // Every other route, a user's own included, takes the session authorizer.
    for (const key of Object.keys(routes).filter((k) => !openRoutes.includes(k) && !adminRoutes.includes(k))) {
      expect(routes[key], `route ${key} has no session authorizer: give its httpApi event \`authorizer: { name: sessionAuthorizer }\``).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId } });
    }
    expect(routes['POST /user/wechatlogin'].AuthorizationType).toBeUndefined();
    // WeChat calls it, with its signature instead of a session token (another app's at its AppID).
    for (const key of pushRoutes) {
      expect(routes[key].AuthorizationType, key).toBeUndefined();
      expect(routes[key].AuthorizerId, key).toBeUndefined();
    }
  });

  it('answers CORS for the stage’s H5 origins alone, in API Gateway (no function runs for a preflight), and none by default', () => {
    const api = (t: Template) => Object.values(t.Resources).find((r: any) => r.Type === 'AWS::ApiGatewayV2::Api') as any;
    expect(api(template).Properties.CorsConfiguration).toBeUndefined();
    expect(api(cleanTemplate).Properties.CorsConfiguration).toBeUndefined();
    expect(api(paramTemplate).Properties.CorsConfiguration).toMatchObject({
      AllowOrigins: ['https://h5.example.com', 'https://m.example.com:8443'],
      AllowHeaders: expect.arrayContaining(['Content-Type', 'Authorization', 'X-Login-Proof']),
    });
    // No cookies: the token goes in a header.
    expect(api(paramTemplate).Properties.CorsConfiguration.AllowCredentials).not.toBe(true);
    // No route of ours answers OPTIONS: API Gateway does.
    const routes = Object.values(paramTemplate.Resources).filter((r: any) => r.Type === 'AWS::ApiGatewayV2::Route').map((r: any) => r.Properties.RouteKey as string);
    expect(routes.filter((key) => key.startsWith('OPTIONS'))).toEqual([]);
  });

  it('keeps the logs of every function and the API’s access logs for 90 days in prod', () => {
    const groups = resources('AWS::Logs::LogGroup');
    expect(groups.map(([id]) => id)).toContain('HttpApiLogGroup');
    expect(groups).toHaveLength(resources('AWS::Lambda::Function').length + 1);
    for (const [, group] of groups) expect(group.Properties.RetentionInDays).toBe(90);
  });

  it('throttles every route of the HTTP API by the stage’s params, and an explicit --param changes them', () => {
    const stage = resource('HttpApiStage');
    expect(stage.Properties.StageName).toBe('$default');
    expect(stage.Properties.DefaultRouteSettings).toEqual({ DetailedMetricsEnabled: false, ThrottlingBurstLimit: 200, ThrottlingRateLimit: 100 });
    // No route has settings of its own that would escape the defaults.
    expect(stage.Properties.RouteSettings).toBeUndefined();
    const overridden = paramTemplate.Resources.HttpApiStage.Properties.DefaultRouteSettings;
    expect(Number(overridden.ThrottlingBurstLimit)).toBe(Number(overrides.throttlingBurstLimit));
  });

  it('logs each request to the HTTP API as one JSON object, with no request header, body or authorizer context', () => {
    const { AccessLogSettings } = resource('HttpApiStage').Properties;
    expect(AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': ['HttpApiLogGroup', 'Arn'] });
    const format: string = AccessLogSettings.Format;
    const variables = Object.values(JSON.parse(format) as Record<string, string>);
    // Enough to follow one request: which one, from where, to what, what answered and how fast.
    expect(variables).toEqual(expect.arrayContaining([
      '$context.requestId', '$context.identity.sourceIp', '$context.routeKey', '$context.protocol',
      '$context.status', '$context.responseLength', '$context.responseLatency', '$context.integrationErrorMessage',
    ]));
    // Each field is exactly one variable of API Gateway's own, never text around one.
    for (const variable of variables) expect(variable).toMatch(/^\$context\.[A-Za-z]+(\.[A-Za-z]+)*$/);
    // The Authorization header carries the token; the authorizer's context, the user's ids.
    expect(format).not.toContain('$request.');
    expect(format).not.toContain('$input');
    expect(format).not.toContain('$context.authorizer');
    // Variables API Gateway fills from a request header (User-Agent, Host) or the client's certificate.
    expect(format).not.toMatch(/\$context\.(identity\.userAgent|identity\.clientCert|domainName|domainPrefix)/);
  });

  it('names secrets by SSM parameter only: no secret value or secret variable anywhere in the package', () => {
    for (const [, fn] of resources('AWS::Lambda::Function')) {
      const variables = Object.keys(fn.Properties.Environment.Variables);
      expect(variables).not.toContain('WECHAT_SECRET');
      expect(variables).not.toContain('UPSTASH_REDIS_REST_TOKEN');
      expect(variables).not.toContain('WECHAT_PUSH_TOKEN');
      expect(variables).not.toContain('WECHAT_PUSH_AES_KEY');
      // An extra app's AppSecret neither: by the parameters' folder only (lib/apps.ts).
      expect(variables.filter((name) => /^WECHAT_SECRET_(?!PARAMETER$)/.test(name))).toEqual([]);
    }
    expect(resource('LoginLambdaFunction').Properties.Environment.Variables.WECHAT_SECRET_PARAMETER).toBe('/wechat-login/prod/wechat-secret');
    expect(Object.keys(resource('AuthorizerLambdaFunction').Properties.Environment.Variables)).not.toContain('WECHAT_SECRET_PARAMETER');
    // The message push knows its own parameters by name, and not the AppSecret's.
    expect(resource('WechatEventsLambdaFunction').Properties.Environment.Variables).toEqual({
      LOG_LEVEL: 'info',
      SERVICE_NAME: 'wechat-login-prod',
      WECHAT_APPID_PARAMETER: '/wechat-login/prod/wechat-appid',
      WECHAT_PUSH_TOKEN_PARAMETER: '/wechat-login/prod/wechat-push-token',
      WECHAT_PUSH_AES_KEY_PARAMETER: '/wechat-login/prod/wechat-push-aes-key',
      // Another app's push Token and key, by the parameters' folder (lib/apps.ts); no AppSecret.
      WECHAT_APPS: '',
      WECHAT_APP_PARAMETERS: '/wechat-login/prod/apps',
      WECHAT_APP_SETTINGS: 'wechat-push-token wechat-push-aes-key',
      UPSTASH_REDIS_REST_URL_PARAMETER: '/wechat-login/prod/upstash-redis-rest-url',
      UPSTASH_REDIS_REST_TOKEN_PARAMETER: '/wechat-login/prod/upstash-redis-rest-token',
      USERS_TABLE: 'wechat-login-prod-users',
      UNIONIDS_TABLE: 'wechat-login-prod-unionids',
      SESSION_TTL_SECONDS: '604800',
      SESSION_MAX_AGE_SECONDS: '2592000',
      PHONES_TABLE: 'wechat-login-prod-phones',
      AVATAR_BUCKET: { Ref: 'AvatarsBucket' },
      AVATAR_BASE_URL: expect.anything(),
      USER_EVENTS: 'eventbridge',
      WECHAT_PUSH_PLAINTEXT: 'refuse',
    });
    expect(everything.length).toBeGreaterThan(100_000);
    for (const value of Object.values(planted)) expect(everything).not.toContain(value);
  });

  it('bundles each function with its own dependencies only', () => {
    const dynamodbClient = 'DynamoDB_20120810';
    const upstashClient = 'multi-exec';
    const s3Client = 'PutObjectTagging';
    expect(Object.keys(bundles)).toEqual(expect.arrayContaining(['authorizer', 'avatar', 'deleteAccount', 'exportAccount', 'login', 'logout', 'me', 'phone', 'profile', 'wechatEvents']));
    // The S3 client (about 170 KB minified) goes into the avatar function and the three that
    // delete the user's files (the account deletion, WeChat's events, the admin API) alone.
    const withS3 = ['avatar', 'deleteAccount', 'wechatEvents', 'admin'];
    for (const name of withS3) expect(bundles[name], name).toContain(s3Client);
    for (const [name, bundle] of Object.entries(bundles)) if (!withS3.includes(name)) expect(bundle, name).not.toContain(s3Client);
    expect(bundles.login).toContain(dynamodbClient);
    expect(bundles.login).toContain(upstashClient);
    for (const name of ['authorizer', 'logout', 'sessions']) expect(bundles[name]).not.toContain(dynamodbClient);
    expect(bundles.me).not.toContain(upstashClient);
    // The message push: Redis for its records, DynamoDB for what the account events do.
    expect(bundles.wechatEvents).toContain(upstashClient);
    expect(bundles.wechatEvents).toContain(dynamodbClient);
    // The SDK's default credential chain (STS, SSO, …) is not bundled: Lambda's come from the environment.
    for (const bundle of Object.values(bundles)) expect(bundle).not.toContain('AssumeRoleWithWebIdentity');
    // Nor mnemonist's LRU cache: the DynamoDB client's endpoint cache runs on lib/adapters/endpoint-cache-lru.ts.
    for (const [name, bundle] of Object.entries(bundles)) expect(bundle, name).not.toContain('mnemonist/lru-cache');
    expect(bundles.login).toContain('LRUCache: capacity should be a positive number');
  });

  it('awaits each function\'s initialisation at load, so it runs in Lambda\'s init phase (deploy/esbuild-plugins.cjs)', () => {
    for (const [name, bundle] of Object.entries(bundles)) {
      expect(bundle, name).toContain('await Promise.all(globalThis[Symbol.for("wechat-login.await-at-load")] ?? []);');
    }
  });

  it('loads Node built-ins with require(), never as ES imports (on Node 22 those cost ~20 ms of cold start)', () => {
    for (const [name, bundle] of Object.entries(bundles)) {
      // Minified ES import statements of a builtin: `import x from"node:http"`, `import{a as b}from"crypto"`.
      const esImports = bundle.match(/import\s*[\w${}\s,*]*?\s*from\s*"(node:)?[a-z_/]+"|import\s*\(\s*"node:[a-z_/]+"\s*\)/g) ?? [];
      expect(esImports, name).toEqual([]);
    }
    // The check above is not vacuous: each shipped bundle does load node:http (its HTTP clients), by require().
    for (const [name, bundle] of Object.entries(bundles)) expect(bundle, name).toMatch(/\("node:http"\)/);
  });

  it('keeps the avatars in a private, encrypted, unversioned bucket that outlives the stack, pending files expiring after a day', () => {
    const bucket = resource('AvatarsBucket');
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
    expect(bucket.Properties.BucketEncryption).toEqual({ ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    // Unversioned: a deleted avatar is gone, not kept as a noncurrent version.
    expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
    const rules: any[] = bucket.Properties.LifecycleConfiguration.Rules;
    expect(rules.every((r) => r.Status === 'Enabled')).toBe(true);
    // The tag lib/adapters/s3-avatars.ts puts on every upload until the user row points at it.
    expect(rules.filter((r) => r.TagFilters)).toEqual([expect.objectContaining({ Prefix: 'avatars/', TagFilters: [{ Key: 'avatar', Value: 'pending' }], ExpirationInDays: 1 })]);
    expect(rules.filter((r) => r.AbortIncompleteMultipartUpload)).toEqual([expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } })]);
    expect(rules.filter((r) => r.NoncurrentVersionExpiration || r.Transitions)).toEqual([]);
  });

  it('lets only the avatar distribution read the bucket, under avatars/, and refuses every request without TLS', () => {
    const policy = resource('AvatarsBucketPolicy').Properties;
    expect(policy.Bucket).toEqual({ Ref: 'AvatarsBucket' });
    const [allow, deny, ...rest] = policy.PolicyDocument.Statement;
    expect(rest).toEqual([]);
    expect(allow).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'cloudfront.amazonaws.com' },
      Action: 's3:GetObject',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['AvatarsBucket', 'Arn'] }, '/avatars/*']] },
    });
    // This distribution and no other: its ARN, built from its id.
    const sourceArn = allow.Condition.StringEquals['AWS:SourceArn'];
    expect(Object.keys(allow.Condition)).toEqual(['StringEquals']);
    expect(JSON.stringify(sourceArn)).toContain(':cloudfront::');
    expect(sourceArn['Fn::Join'][1].at(-1)).toEqual({ Ref: 'AvatarsDistribution' });
    expect(deny).toEqual({
      Sid: 'TlsOnly',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: [{ 'Fn::GetAtt': ['AvatarsBucket', 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['AvatarsBucket', 'Arn'] }, '/*']] }],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
  });

  it('serves the avatars through CloudFront with origin access control, HTTPS only, HTTP/2 and 3, each cached at most an hour', () => {
    const config = resource('AvatarsDistribution').Properties.DistributionConfig;
    expect(config.HttpVersion).toBe('http2and3');
    expect(config.Origins).toEqual([
      {
        Id: 'avatars-bucket',
        DomainName: { 'Fn::GetAtt': ['AvatarsBucket', 'RegionalDomainName'] },
        OriginAccessControlId: { 'Fn::GetAtt': ['AvatarsOriginAccessControl', 'Id'] },
        S3OriginConfig: { OriginAccessIdentity: '' },
      },
    ]);
    // Origin access control, not the legacy origin access identity.
    expect(resources('AWS::CloudFront::CloudFrontOriginAccessIdentity')).toEqual([]);
    expect(resource('AvatarsOriginAccessControl').Properties.OriginAccessControlConfig).toMatchObject({
      OriginAccessControlOriginType: 's3',
      SigningBehavior: 'always',
      SigningProtocol: 'sigv4',
    });
    expect(config.DefaultCacheBehavior).toMatchObject({
      TargetOriginId: 'avatars-bucket',
      ViewerProtocolPolicy: 'redirect-to-https',
      AllowedMethods: ['GET', 'HEAD'],
      CachePolicyId: { Ref: 'AvatarsCachePolicy' },
    });
    expect(config.CacheBehaviors).toBeUndefined();
    // The file says a year (keys are unique per upload); CloudFront keeps it an hour at most,
    // so a deleted avatar stops being served within the hour.
    const cache = resource('AvatarsCachePolicy').Properties.CachePolicyConfig;
    expect(cache).toMatchObject({ DefaultTTL: 3600, MaxTTL: 3600 });
    expect(cache.MinTTL).toBeLessThanOrEqual(3600);
    expect(cache.ParametersInCacheKeyAndForwardedToOrigin).toMatchObject({
      CookiesConfig: { CookieBehavior: 'none' },
      HeadersConfig: { HeaderBehavior: 'none' },
      QueryStringsConfig: { QueryStringBehavior: 'none' },
    });
  });

  it('answers on CloudFront’s own domain and certificate without avatarDomain, and on the operator’s with it', () => {
    const config = (t: Template) => resolve(t, t.Resources.AvatarsDistribution.Properties.DistributionConfig);
    expect(config(template).Aliases).toBeUndefined();
    expect(config(template).ViewerCertificate).toEqual({ CloudFrontDefaultCertificate: true });
    expect(config(cleanTemplate)).toEqual(config(template));

    expect(config(paramTemplate).Aliases).toEqual([overrides.avatarDomain]);
    expect(config(paramTemplate).ViewerCertificate).toEqual({
      AcmCertificateArn: overrides.avatarCertificateArn,
      SslSupportMethod: 'sni-only',
      MinimumProtocolVersion: 'TLSv1.2_2021',
    });
    // CloudFront takes certificates from us-east-1 only: the stack refuses any other.
    expect(new RegExp(template.Parameters!.AvatarCertificateArn.AllowedPattern).test(overrides.avatarCertificateArn)).toBe(true);
    expect(new RegExp(template.Parameters!.AvatarCertificateArn.AllowedPattern).test(overrides.avatarCertificateArn.replace('us-east-1', 'ap-southeast-1'))).toBe(false);
    expect(new RegExp(template.Parameters!.AvatarDomain.AllowedPattern).test(overrides.avatarDomain)).toBe(true);
  });

  it('hands the avatar function its bucket, its size and upload limits and the URL the CDN serves the files at', () => {
    const env = (t: Template) => t.Resources.AvatarLambdaFunction.Properties.Environment.Variables;
    expect(Object.keys(env(template)).sort()).toEqual(['AVATAR_BASE_URL', 'AVATAR_BUCKET', 'AVATAR_MAX_BYTES', 'AVATAR_UPLOAD_LIMIT', 'AVATAR_UPLOAD_WINDOW_SECONDS', 'LOG_LEVEL', 'SERVICE_NAME', 'USERS_TABLE']);
    expect(env(template)).toMatchObject({
      AVATAR_BUCKET: { Ref: 'AvatarsBucket' },
      AVATAR_MAX_BYTES: '1048576',
      AVATAR_UPLOAD_LIMIT: '20',
      AVATAR_UPLOAD_WINDOW_SECONDS: '3600',
      USERS_TABLE: 'wechat-login-prod-users',
    });
    const baseUrl = (t: Template) => resolve(t, env(t).AVATAR_BASE_URL);
    expect(baseUrl(template)).toEqual({ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': ['AvatarsDistribution', 'DomainName'] }]] });
    expect(baseUrl(paramTemplate)).toEqual({ 'Fn::Join': ['', ['https://', overrides.avatarDomain]] });
    // The stack's outputs say the same, beside the name the domain's CNAME points at.
    expect(template.Outputs?.AvatarBaseUrl.Value).toEqual(env(template).AVATAR_BASE_URL);
    expect(template.Outputs?.AvatarsDistributionDomainName.Value).toEqual({ 'Fn::GetAtt': ['AvatarsDistribution', 'DomainName'] });

    // The nickname function: WeChat and Upstash by parameter name, as the phone function, the
    // users table, and the avatars' URL for the profile it answers with.
    expect(Object.keys(resource('ProfileLambdaFunction').Properties.Environment.Variables).sort()).toEqual([
      'AVATAR_BASE_URL',
      'LOG_LEVEL',
      'SERVICE_NAME',
      'UPSTASH_REDIS_REST_TOKEN_PARAMETER',
      'UPSTASH_REDIS_REST_URL_PARAMETER',
      'USERS_TABLE',
      'WECHAT_APPID_PARAMETER',
      'WECHAT_APPS',
      'WECHAT_APP_PARAMETERS',
      'WECHAT_SECRET_PARAMETER',
    ]);
  });

  // Errors fail the test; warnings are printed only. Those left are osls's own (W3005: a DependsOn
  // beside a GetAtt of the same resource) and conditions fixed at package time by the stage
  // (W8003: TracingOn is always true in prod), neither a fault of the template.
  // Errors fail the test; warnings are printed only. Those left are osls's own (W3005: a DependsOn
  // beside a GetAtt of the same resource) and conditions fixed at package time by the stage
  // (W8003: KeepWarmOn is always false in prod), neither a fault of the template. Each template
  // is linted for every region it is meant for: the aws templates for the default region and
  // ap-east-1 (Hong Kong), the aws-cn one for both China regions. A template names no region
  // (the test below), so packaging for one region of a partition packages them all.
  it('passes cfn-lint without an error in every region it is built for: ap-southeast-1, ap-east-1, cn-north-1, cn-northwest-1', async (ctx) => {
    if (cfnLintMissing) {
      console.warn(`SKIPPED cfn-lint of the packaged templates: ${cfnLintMissing}`);
      ctx.skip(cfnLintMissing);
    }
    type Match = { Level: string; Rule: { Id: string }; Message: string; Filename: string; Location: { Path: unknown[] } };
    const lint = async (regions: string[], names: string[]): Promise<Match[]> => {
      // cfn-lint exits non-zero whenever it reports anything, warnings included: read its report instead.
      const { stdout } = await promisify(execFile)('cfn-lint', ['--format', 'json', '--regions', ...regions, '--', ...names.map(templateFile)]).catch((err) => err);
      return JSON.parse(stdout);
    };
    const matches = [
      ...(await lint(['ap-southeast-1', 'ap-east-1'], ['prod', 'prod-param', 'dev'])),
      ...(await lint(['cn-north-1', 'cn-northwest-1'], ['prod-cn'])),
    ];
    const line = (m: Match) => `${m.Rule.Id} ${m.Filename.split('/').at(-2)} ${m.Location.Path.join('/')}: ${m.Message}`;
    const warnings = new Map<string, string[]>();
    for (const m of matches.filter((m) => m.Level !== 'Error')) warnings.set(m.Rule.Id, [...(warnings.get(m.Rule.Id) ?? []), line(m)]);
    for (const [rule, found] of warnings) console.info(`cfn-lint ${rule} ×${found.length} (warnings, not failures), e.g. ${found[0]}`);
    expect(matches.filter((m) => m.Level === 'Error').map(line)).toEqual([]);
  }, 120_000);

  it('names no region and no partition in any ARN: the template is the same for every region of its partition', () => {
    for (const [name, raw] of [['prod', prodRaw], ['prod-cn', chinaRaw]] as const) {
      expect(raw.length, name).toBeGreaterThan(10_000);
      for (const region of ['ap-southeast-1', 'ap-east-1', 'cn-north-1', 'cn-northwest-1']) expect(raw, `${name} names ${region}`).not.toContain(region);
      // ARNs take their partition from AWS::Partition (arn:aws-cn: in China).
      expect(raw.match(/"arn:aws[a-z-]*:/g) ?? [], name).toEqual([]);
    }
  });

  it('builds the China regions’ template without what they lack: no OAC (an origin access identity), no ACM (an IAM server certificate), no X-Ray for Lambda', () => {
    const types = Object.values(chinaTemplate.Resources).map((r: any) => r.Type);
    expect(types).not.toContain('AWS::CloudFront::OriginAccessControl');
    expect(types).toContain('AWS::CloudFront::CloudFrontOriginAccessIdentity');
    const config = resolve(chinaTemplate, chinaTemplate.Resources.AvatarsDistribution.Properties.DistributionConfig);
    expect(config.Aliases).toEqual([chinaParams.avatarDomain]);
    expect(config.ViewerCertificate).toMatchObject({ IamCertificateId: chinaParams.avatarIamCertificateId, SslSupportMethod: 'sni-only' });
    expect(JSON.stringify(config)).not.toContain('AcmCertificateArn');
    // Lambda in the China regions has no X-Ray integration: no function traced, no role granted it.
    for (const [id, r] of Object.entries(chinaTemplate.Resources)) {
      if (r.Type === 'AWS::Lambda::Function') expect(r.Properties.TracingConfig, id).toBeUndefined();
    }
    expect(functionRuleViolations(chinaTemplate, { retentionInDays: 90, tracing: false })).toEqual([]);
    expect(tableRuleViolations(chinaTemplate, { prefix: 'wechat-login-prod-' })).toEqual([]);
    // Everything else is the same stack: the same functions, tables and roles' statements.
    const ids = (t: Template) => Object.keys(t.Resources).filter((id) => !id.startsWith('Avatars') && !/LambdaVersion/.test(id)).sort();
    expect(ids(chinaTemplate)).toEqual(ids(template));
    const withoutXray = (t: Template, role: string) => statementsOf(t, role).filter((s: any) => !s.Action.some((a: string) => a.startsWith('xray:')));
    for (const role of functionRoles(template)) expect(withoutXray(chinaTemplate, role), role).toEqual(withoutXray(template, role));
  });

  it('keeps no container warm unless asked: --param keepWarm=true adds a schedule that pings the login function only', () => {
    for (const t of [template, cleanTemplate, devTemplate]) expect(holds(t, 'KeepWarmOn')).toBe(false);
    expect(holds(paramTemplate, 'KeepWarmOn')).toBe(true);
    const rule = paramTemplate.Resources.LoginKeepWarmRule;
    expect(rule).toMatchObject({ Type: 'AWS::Events::Rule', Condition: 'KeepWarmOn', Properties: { ScheduleExpression: { 'Fn::Sub': 'rate(${KeepWarmMinutes} minutes)' }, State: 'ENABLED' } });
    // The interval reaches the rule as a stack parameter that CloudFormation checks (rate() takes "N minutes" from 2).
    expect(paramTemplate.Parameters?.KeepWarmMinutes).toMatchObject({ Type: 'Number', Default: 5, MinValue: 2 });
    expect(rule.Properties.Targets).toEqual([{ Id: 'login-warm-ping', Arn: { 'Fn::GetAtt': ['LoginLambdaFunction', 'Arn'] }, Input: '{"warmPing":true}' }]);
    expect(paramTemplate.Resources.LoginKeepWarmPermission).toMatchObject({
      Condition: 'KeepWarmOn',
      Properties: { FunctionName: { 'Fn::GetAtt': ['LoginLambdaFunction', 'Arn'] }, Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': ['LoginKeepWarmRule', 'Arn'] } },
    });
  });

  it('alarms on the 5xx rate and on WECHAT_ERROR, notifying the stage’s topic when it has one', () => {
    const alarms = Object.fromEntries(resources('AWS::CloudWatch::Alarm'));
    for (const alarm of Object.values(alarms) as any[]) {
      expect(alarm.Properties.AlarmActions).toEqual({ 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] });
    }
    expect(template.Conditions?.HasAlarmTopic).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }] });
    const topic = (t: Template) => t.Parameters?.AlarmTopicArn.Default;
    expect(topic(template)).toBe('');
    expect(topic(paramTemplate)).toBe(overrides.alarmTopicArn);
    expect(alarms.ErrorRateAlarm.Properties.Metrics.find((m: any) => m.ReturnData).Expression).toContain('errors / requests');
    // Every route that calls WeChat (login, phone, profile) counts into the one metric.
    expect(alarms.WechatErrorAlarm.Properties).toMatchObject({
      Namespace: 'WeChatLogin',
      MetricName: 'WechatErrors',
      Dimensions: [{ Name: 'Service', Value: 'wechat-login-prod' }],
    });
  });
});

/** The rules on hand-made templates: a function a user adds is held to them like the shipped ones. */
describe('functionRuleViolations', () => {
  const prod = { retentionInDays: 90, tracing: true };
  const logs = (...names: string[]) => ({
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: names.map((name) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${name}:*` })),
  });
  const role = (...statements: any[]) => ({ Type: 'AWS::IAM::Role', Properties: { Policies: [{ PolicyName: 'p', PolicyDocument: { Statement: statements } }] } });
  const fn = (name: string, role: string) => ({
    Type: 'AWS::Lambda::Function',
    Properties: { FunctionName: name, Runtime: 'nodejs22.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' }, Environment: { Variables: {} }, Role: { 'Fn::GetAtt': [role, 'Arn'] } },
  });
  const group = (name: string) => ({ Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: `/aws/lambda/${name}`, RetentionInDays: 90 } });
  const shipped = {
    MeLambdaFunction: fn('svc-prod-me', 'ProfileRole'),
    MeLogGroup: group('svc-prod-me'),
    ProfileRole: role({ Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: { 'Fn::GetAtt': ['UsersTable', 'Arn'] } }, logs('svc-prod-me'), xray),
  };

  it('passes functions that keep every rule', () => {
    expect(functionRuleViolations({ Resources: shipped }, prod)).toEqual([]);
  });

  it('passes a function of the user’s own with a role of its own', () => {
    const t = { Resources: { ...shipped, OrdersLambdaFunction: fn('svc-prod-orders', 'OrdersRole'), OrdersLogGroup: group('svc-prod-orders'), OrdersRole: role(logs('svc-prod-orders'), xray) } };
    expect(functionRuleViolations(t, prod)).toEqual([]);
  });

  it('names a function left on the framework’s default role, and says how to give it one', () => {
    const t = { Resources: { ...shipped, OrdersLambdaFunction: fn('svc-prod-orders', DEFAULT_ROLE), OrdersLogGroup: group('svc-prod-orders'), [DEFAULT_ROLE]: role(xray) } };
    expect(functionRuleViolations(t, prod)).toEqual([expect.stringMatching(/^function svc-prod-orders has no role of its own: give it `iamRoleStatements:` in its file under deploy\/routes\//)]);
  });

  it('names a role with a `*` action, a `*` resource, another function’s log group, or its own missing', () => {
    const t = {
      Resources: {
        ...shipped,
        OrdersLambdaFunction: fn('svc-prod-orders', 'OrdersRole'),
        OrdersLogGroup: group('svc-prod-orders'),
        OrdersRole: role({ Effect: 'Allow', Action: ['dynamodb:*'], Resource: '*' }, logs('svc-prod-me'), xray),
      },
    };
    expect(functionRuleViolations(t, prod)).toEqual([
      'role OrdersRole (function svc-prod-orders) allows dynamodb:*: name each action',
      'role OrdersRole (function svc-prod-orders) allows dynamodb:* on every resource (*): name the resource (!GetAtt <Table>.Arn, …)',
      'role OrdersRole cannot write the log group of its function svc-prod-orders (logs:PutLogEvents on …:log-group:/aws/lambda/svc-prod-orders:*)',
      expect.stringMatching(/^role OrdersRole \(function svc-prod-orders\) writes a log group not its functions': .*svc-prod-me:\*$/),
    ]);
  });

  it('names a function on another runtime or architecture, untraced, or without a log group kept for the stage’s days', () => {
    const other = fn('svc-prod-orders', 'OrdersRole');
    other.Properties = { ...other.Properties, Runtime: 'nodejs20.x', Architectures: ['x86_64'], TracingConfig: undefined as any };
    const t = { Resources: { ...shipped, OrdersLambdaFunction: other, OrdersRole: role(logs('svc-prod-orders'), xray) } };
    expect(functionRuleViolations(t, prod)).toEqual([
      'function svc-prod-orders runs on nodejs20.x, not nodejs22.x: remove its `runtime:` (provider.runtime is the one)',
      'function svc-prod-orders runs on ["x86_64"], not arm64: remove its `architecture:`',
      'function svc-prod-orders is not traced (TracingConfig undefined): remove its `tracing:` (provider.tracing is the stage\'s)',
      'function svc-prod-orders has no log group /aws/lambda/svc-prod-orders in the stack: do not set `disableLogs` or `logs` on it',
    ]);
    expect(functionRuleViolations({ Resources: { ...shipped, MeLogGroup: { ...group('svc-prod-me'), Properties: { LogGroupName: '/aws/lambda/svc-prod-me' } } } }, prod)).toEqual([
      'function svc-prod-me keeps its logs forever, not 90 days: remove its own `logRetentionInDays`',
    ]);
  });

  it('names a role that may act on every table, bucket or parameter of the account, and says to name one', () => {
    const t = {
      Resources: {
        ...shipped,
        OrdersLambdaFunction: fn('svc-prod-orders', 'OrdersRole'),
        OrdersLogGroup: group('svc-prod-orders'),
        OrdersRole: role({ Effect: 'Allow', Action: ['dynamodb:Query'], Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*' } }, logs('svc-prod-orders'), xray),
      },
    };
    expect(functionRuleViolations(t, prod)).toEqual([
      'role OrdersRole (function svc-prod-orders) allows dynamodb:Query on arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*: name the one table, bucket or parameter',
    ]);
  });

  it('names a role two functions share', () => {
    const t = { Resources: { ...shipped, OrdersLambdaFunction: fn('svc-prod-orders', 'ProfileRole'), OrdersLogGroup: group('svc-prod-orders') } };
    expect(functionRuleViolations(t, prod)).toContain('role ProfileRole is shared by functions svc-prod-me, svc-prod-orders: give each its own `iamRoleStatements:`');
  });
});

/** The rules on tables: a table a user adds in its route's file is held to them like the shipped ones. */
describe('tableRuleViolations', () => {
  const table = (properties: Record<string, unknown>, policies: Record<string, unknown> = { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' }) => ({
    Type: 'AWS::DynamoDB::Table',
    ...policies,
    Properties: {
      TableName: 'svc-prod-orders',
      BillingMode: 'PAY_PER_REQUEST',
      DeletionProtectionEnabled: true,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      ...properties,
    },
  });
  const stage = { prefix: 'svc-prod-' };

  it('passes a table that keeps every rule, with deletion protection or with Retain alone', () => {
    expect(tableRuleViolations({ Resources: { OrdersTable: table({}) } }, stage)).toEqual([]);
    expect(tableRuleViolations({ Resources: { OrdersTable: table({}, {}) } }, stage)).toEqual([]);
    expect(tableRuleViolations({ Resources: { OrdersTable: table({ DeletionProtectionEnabled: false }) } }, stage)).toEqual([]);
  });

  it('names the table and what to add for each rule it breaks', () => {
    const broken = table({ BillingMode: 'PROVISIONED', PointInTimeRecoverySpecification: undefined, SSESpecification: undefined, DeletionProtectionEnabled: false, TableName: 'orders' }, {});
    expect(tableRuleViolations({ Resources: { OrdersTable: broken } }, stage)).toEqual([
      'table OrdersTable is not on demand: add `BillingMode: PAY_PER_REQUEST`',
      'table OrdersTable has no point-in-time recovery: add `PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }`',
      'table OrdersTable is not encrypted with a KMS key: add `SSESpecification: { SSEEnabled: true }`',
      'table OrdersTable can be deleted with its data: add `DeletionProtectionEnabled: true`, or `DeletionPolicy: Retain` and `UpdateReplacePolicy: Retain`',
      'table OrdersTable is named "orders": name it `${self:service}-${sls:stage}-<name>` (svc-prod-…)',
    ]);
  });
});
