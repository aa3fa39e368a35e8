/**
 * The rules every packaged template keeps, whatever routes it holds: the shipped ones and any a
 * user adds in deploy/routes/. Each broken rule comes back as one sentence that names the
 * resource and what to add, so a test of `[]` says what to fix. What concerns one shipped
 * route only (its exact permissions, memory, paths) is asserted by name in
 * test/integration/template.test.ts instead.
 */

export type Template = {
  Resources: Record<string, any>;
  Conditions?: Record<string, unknown>;
  Parameters?: Record<string, any>;
  Outputs?: Record<string, any>;
};

export const XRAY = { Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' };

/** The role osls makes for every function that names none: one policy for all of them, logs under a `*`. */
export const DEFAULT_ROLE = 'IamRoleLambdaExecution';

/** Environment variables that would carry a secret's value: secrets are named by SSM parameter only. */
export const SECRET_VARIABLES = ['WECHAT_SECRET', 'UPSTASH_REDIS_REST_TOKEN', 'WECHAT_PUSH_TOKEN', 'WECHAT_PUSH_AES_KEY'];

/** The services whose resources hold user data: no role may act on all of theirs (`*`). */
const DATA_SERVICES = ['dynamodb', 's3', 'ssm', 'events', 'sqs', 'sns', 'kms', 'secretsmanager', 'logs'];

/** Where to read what a route file may declare. */
const HOW_TO = 'docs/development.md, "Add a route with a table of your own"';

/** Whether condition `name` of `t` holds. Its conditions are fixed at package time, by the stage and its parameters' defaults. */
export function holds(t: Template, name: string): boolean {
  const value = (v: any) => (v?.Ref ? t.Parameters?.[v.Ref].Default : v);
  const test = (c: any): boolean => {
    if (c['Fn::Equals']) return String(value(c['Fn::Equals'][0])) === String(value(c['Fn::Equals'][1]));
    if (c['Fn::Not']) return !test(c['Fn::Not'][0]);
    if (c['Fn::And']) return c['Fn::And'].every(test);
    if (c['Fn::Or']) return c['Fn::Or'].some(test);
    if (c.Condition) return holds(t, c.Condition);
    throw new Error(`condition ${name} uses more than this test reads: ${JSON.stringify(c)}`);
  };
  return test(t.Conditions?.[name]);
}

/**
 * `value` as CloudFormation would create it in `t`: each `Fn::If` decided, `AWS::NoValue` left
 * out, and each `Ref` of a stack parameter replaced by its default. Other intrinsics stay.
 */
export function resolve(t: Template, value: any): any {
  if (Array.isArray(value)) return value.map((v) => resolve(t, v)).filter((v) => v !== undefined);
  if (value === null || typeof value !== 'object') return value;
  if (value['Fn::If']) return resolve(t, value['Fn::If'][holds(t, value['Fn::If'][0]) ? 1 : 2]);
  if (value.Ref === 'AWS::NoValue') return undefined;
  if (value.Ref && t.Parameters?.[value.Ref]) return t.Parameters[value.Ref].Default;
  const out: Record<string, any> = {};
  for (const [key, v] of Object.entries(value)) {
    const r = resolve(t, v);
    if (r !== undefined) out[key] = r;
  }
  return out;
}

/** The statements of a role's inline policies as CloudFormation creates them: each `Fn::If` decided. */
export function statementsOf(t: Template, role: string): any[] {
  return t.Resources[role].Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)
    .map((s: any) => (s['Fn::If'] ? s['Fn::If'][holds(t, s['Fn::If'][0]) ? 1 : 2] : s))
    .filter((s: any) => s.Ref !== 'AWS::NoValue');
}

/** The role a function runs with, by the function's logical id (`LoginLambdaFunction`). */
export const roleOf = (t: Template, functionId: string): string => t.Resources[functionId].Properties.Role['Fn::GetAtt'][0];

/** The roles the functions of `t` run with. */
export const functionRoles = (t: Template) => [
  ...new Set(
    Object.values(t.Resources)
      .filter((r: any) => r.Type === 'AWS::Lambda::Function')
      .map((fn: any) => fn.Properties.Role?.['Fn::GetAtt']?.[0] as string)
      .filter((role) => role !== DEFAULT_ROLE),
  ),
];

const arnText = (r: any): string => (typeof r === 'string' ? r : (r['Fn::Sub'] ?? JSON.stringify(r)));

/**
 * What every function must be: nodejs22.x on arm64, traced where the stage traces, no secret in
 * its environment, a log group of its own kept for the stage's days, and a role of its own that
 * names each action, grants X-Ray once where tracing is on, and writes its own log group only.
 */
export function functionRuleViolations(t: Template, stage: { retentionInDays: number; tracing: boolean }): string[] {
  const broken: string[] = [];
  const functions = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
  if (functions.length === 0) broken.push('the template has no function at all');
  const groups = Object.values(t.Resources).filter((r: any) => r.Type === 'AWS::Logs::LogGroup');
  /** The functions (by name) running with each role. */
  const byRole = new Map<string, string[]>();
  for (const [id, fn] of functions) {
    const p = fn.Properties;
    const name: string = p.FunctionName ?? id;
    if (p.Runtime !== 'nodejs22.x') broken.push(`function ${name} runs on ${p.Runtime}, not nodejs22.x: remove its \`runtime:\` (provider.runtime is the one)`);
    if (JSON.stringify(p.Architectures) !== '["arm64"]') broken.push(`function ${name} runs on ${JSON.stringify(p.Architectures ?? 'x86_64')}, not arm64: remove its \`architecture:\``);
    if (stage.tracing && p.TracingConfig?.Mode !== 'Active') broken.push(`function ${name} is not traced (TracingConfig ${JSON.stringify(p.TracingConfig)}): remove its \`tracing:\` (provider.tracing is the stage's)`);
    if (!stage.tracing && p.TracingConfig !== undefined) broken.push(`function ${name} is traced on a stage without tracing: remove its \`tracing:\``);
    for (const variable of SECRET_VARIABLES) {
      if (variable in (p.Environment?.Variables ?? {})) broken.push(`function ${name} has ${variable} in its environment: name the SSM parameter instead (${variable}_PARAMETER)`);
    }
    const group = groups.find((g: any) => g.Properties.LogGroupName === `/aws/lambda/${name}`);
    if (!group) broken.push(`function ${name} has no log group /aws/lambda/${name} in the stack: do not set \`disableLogs\` or \`logs\` on it`);
    else if (group.Properties.RetentionInDays !== stage.retentionInDays) broken.push(`function ${name} keeps its logs ${group.Properties.RetentionInDays ?? 'forever'}, not ${stage.retentionInDays} days: remove its own \`logRetentionInDays\``);
    const role = p.Role?.['Fn::GetAtt']?.[0];
    if (role === DEFAULT_ROLE || role === undefined) {
      broken.push(`function ${name} has no role of its own: give it \`iamRoleStatements:\` in its file under deploy/routes/ with only the actions it calls (${HOW_TO})`);
      continue;
    }
    if (t.Resources[role]?.Type !== 'AWS::IAM::Role') {
      broken.push(`function ${name} runs with ${role}, which is no AWS::IAM::Role of the stack: give it \`iamRoleStatements:\` instead of \`role:\` (${HOW_TO})`);
      continue;
    }
    byRole.set(role, [...(byRole.get(role) ?? []), name]);
  }
  for (const [role, names] of byRole) {
    if (names.length > 1) broken.push(`role ${role} is shared by functions ${names.join(', ')}: give each its own \`iamRoleStatements:\``);
    const statements = statementsOf(t, role);
    for (const statement of statements) {
      const actions: string[] = [statement.Action ?? statement.NotAction].flat();
      if (statement.NotAction || statement.NotResource) broken.push(`role ${role} (function ${names.join(', ')}) uses NotAction/NotResource: name what it may do instead`);
      const wild = actions.filter((a) => a.includes('*'));
      if (wild.length) broken.push(`role ${role} (function ${names.join(', ')}) allows ${wild.join(', ')}: name each action`);
      const isXray = actions.every((a) => a.startsWith('xray:'));
      // X-Ray's calls are the one exception: they accept no resource but `*`.
      if (isXray && JSON.stringify(statement) !== JSON.stringify(XRAY)) broken.push(`role ${role} grants X-Ray otherwise than ${JSON.stringify(XRAY)}`);
      const resources = [statement.Resource].flat().map(arnText);
      if (!isXray && statement.Effect === 'Allow' && resources.includes('*')) broken.push(`role ${role} (function ${names.join(', ')}) allows ${actions.join(', ')} on every resource (*): name the resource (!GetAtt <Table>.Arn, …)`);
      const onData = actions.filter((a) => DATA_SERVICES.includes(a.split(':')[0]!));
      const everyOne = resources.filter((r) => /:\*$|:\$\{AWS::AccountId\}:\*|table\/\*$|^arn:[^:]+:s3:::\*$/.test(r) && !r.includes(':log-group:'));
      if (statement.Effect === 'Allow' && onData.length && everyOne.length) broken.push(`role ${role} (function ${names.join(', ')}) allows ${onData.join(', ')} on ${everyOne.join(', ')}: name the one table, bucket or parameter`);
    }
    const traced = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('xray:'))).length;
    if (stage.tracing && traced !== 1) broken.push(`role ${role} (function ${names.join(', ')}) must grant X-Ray once in its own policy when tracing is on, not ${traced} times`);
    if (!stage.tracing && traced !== 0) broken.push(`role ${role} grants X-Ray on a stage without tracing`);
    // Its own functions' log groups, exactly (the log-group ARN with `:*`, or its streams' with `:*:*`).
    const written = statements
      .filter((s) => [s.Action].flat().includes('logs:PutLogEvents'))
      .flatMap((s) => [s.Resource].flat())
      .map(arnText);
    const ownGroup = (arn: string, name: string) => arn.endsWith(`:log-group:/aws/lambda/${name}:*`) || arn.endsWith(`:log-group:/aws/lambda/${name}:*:*`);
    for (const name of names) if (!written.some((arn) => ownGroup(arn, name))) broken.push(`role ${role} cannot write the log group of its function ${name} (logs:PutLogEvents on …:log-group:/aws/lambda/${name}:*)`);
    for (const arn of written) if (!names.some((name) => ownGroup(arn, name))) broken.push(`role ${role} (function ${names.join(', ')}) writes a log group not its functions': ${arn}`);
  }
  return broken;
}

/**
 * What every table must be: on demand, recoverable to any second of the last 35 days, encrypted,
 * and kept when the stack or the resource goes (deletion protection, or Retain for both
 * deletion and replacement), named `<service>-<stage>-…` so no stage can reach another's data.
 */
export function tableRuleViolations(t: Template, stage: { prefix: string }): string[] {
  const broken: string[] = [];
  for (const [id, table] of Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::DynamoDB::Table')) {
    const p = table.Properties ?? {};
    if (p.BillingMode !== 'PAY_PER_REQUEST') broken.push(`table ${id} is not on demand: add \`BillingMode: PAY_PER_REQUEST\``);
    if (p.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled !== true) broken.push(`table ${id} has no point-in-time recovery: add \`PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }\``);
    if (p.SSESpecification?.SSEEnabled !== true) broken.push(`table ${id} is not encrypted with a KMS key: add \`SSESpecification: { SSEEnabled: true }\``);
    const retained = table.DeletionPolicy === 'Retain' && table.UpdateReplacePolicy === 'Retain';
    if (p.DeletionProtectionEnabled !== true && !retained) broken.push(`table ${id} can be deleted with its data: add \`DeletionProtectionEnabled: true\`, or \`DeletionPolicy: Retain\` and \`UpdateReplacePolicy: Retain\``);
    if (typeof p.TableName !== 'string' || !p.TableName.startsWith(stage.prefix)) broken.push(`table ${id} is named ${JSON.stringify(p.TableName)}: name it \`\${self:service}-\${sls:stage}-<name>\` (${stage.prefix}…)`);
  }
  return broken;
}
