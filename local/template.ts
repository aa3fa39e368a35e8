import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { SERVERLESS_BIN } from './serverless-cli';

/**
 * What the local stack takes from the template instead of a list of its own: the tables (keys,
 * indexes, TTL), the buckets with their lifecycle rules, the SSM parameters' names, and the
 * table names each function is given. Read with `serverless print` for the stage the local
 * commands use, so a table a route declares in its file under deploy/routes/ exists locally
 * as it will on AWS, and a route of your own needs no line in local/.
 */
export interface TableDeclaration {
  /** The resource's logical id (UsersTable). */
  id: string;
  name: string;
  keySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  attributeDefinitions: { AttributeName: string; AttributeType: 'S' | 'N' | 'B' }[];
  globalSecondaryIndexes?: unknown[];
  localSecondaryIndexes?: unknown[];
  /** Recorded for the record: dynalite never expires items. */
  timeToLive?: { attributeName: string; enabled: boolean };
}

export interface LifecycleRule {
  id: string;
  prefix: string;
  /** All must match: S3's `TagFilters`. */
  tags: Record<string, string>;
  expirationInDays?: number;
}

export interface BucketDeclaration {
  id: string;
  lifecycle: LifecycleRule[];
}

export interface Declarations {
  stage: string;
  service: string;
  tables: TableDeclaration[];
  buckets: BucketDeclaration[];
  /** custom.parameters: what each SSM parameter is for, and its name (/wechat-login/dev/wechat-secret). */
  parameters: Record<string, string>;
  /** Each function's variables that name one of the tables (USERS_TABLE → wechat-login-dev-users). */
  tableVariables: Record<string, Record<string, string>>;
  /** Each function's settings read from SSM: the variable and its parameter's name (WECHAT_SECRET → /wechat-login/dev/wechat-secret), from its `WECHAT_SECRET_PARAMETER`. */
  parameterVariables: Record<string, Record<string, string>>;
}

/**
 * The stage `npm run dev`, `serverless offline` and `serverless invoke local` use when none is
 * given: the framework's default (serverless.yml, provider.stage).
 */
export const LOCAL_STAGE = 'dev';

/** The files the template is built from: what invalidates the cached declarations. */
function sources(root: string): string[] {
  const deploy = join(root, 'deploy');
  const files = readdirSync(deploy, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
  return [join(root, 'serverless.yml'), ...files].sort();
}

/** The environment `serverless print` runs with: none of the deploy-time variables a shell may carry. */
function printEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'NODE_OPTIONS'];
  return Object.fromEntries(keep.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]));
}

/**
 * The declarations of `root`'s template for `stage`. `serverless print` takes about 5 s, so the
 * result is cached under node_modules/.cache by the content of serverless.yml and deploy/:
 * the local stacks of a test run, and `npm run dev` after the first, read the cache.
 */
export async function readDeclarations(root = process.cwd(), stage = LOCAL_STAGE): Promise<Declarations> {
  const hash = createHash('sha256');
  // This file too: what it extracts is part of what is cached.
  for (const file of [...sources(root), join(import.meta.dirname, 'template.ts')]) hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  const cacheDir = join(root, 'node_modules', '.cache', 'wechat-login');
  const cacheFile = join(cacheDir, `declarations-${stage}-${hash.digest('hex').slice(0, 16)}.json`);
  try {
    return JSON.parse(readFileSync(cacheFile, 'utf8')) as Declarations;
  } catch {}
  const { stdout } = await promisify(execFile)(process.execPath, [SERVERLESS_BIN, 'print', '--format', 'json', '--stage', stage], {
    cwd: root,
    env: printEnv(),
    maxBuffer: 64 * 1024 * 1024,
  }).catch((err: Error & { stderr?: string; stdout?: string }) => {
    const detail = `${err.stdout ?? ''}\n${err.stderr ?? ''}`.trim().split('\n').filter((line) => /error|cannot|must|unknown/i.test(line)).slice(0, 8).join('\n');
    throw new Error(`the local stack reads its tables from the template, and \`serverless print --stage ${stage}\` failed:\n${detail || err.message}`);
  });
  const declarations = declarationsOf(JSON.parse(stdout.slice(stdout.indexOf('{'))), stage);
  mkdirSync(cacheDir, { recursive: true });
  // Written whole, then renamed: two stacks starting at once never read half a file.
  const partial = `${cacheFile}.${process.pid}`;
  writeFileSync(partial, JSON.stringify(declarations));
  renameSync(partial, cacheFile);
  return declarations;
}

/** The declarations in a resolved service description (what `serverless print --format json` prints). */
export function declarationsOf(service: any, stage: string): Declarations {
  const resources: Record<string, any> = {};
  const sections = Array.isArray(service.resources) ? service.resources : [service.resources ?? {}];
  for (const section of sections) Object.assign(resources, section?.Resources ?? {});

  const tables: TableDeclaration[] = Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::DynamoDB::Table')
    .map(([id, r]) => {
      const p = r.Properties ?? {};
      if (typeof p.TableName !== 'string') throw new Error(`table ${id} has no TableName the local stack can use: name it \`\${self:service}-\${sls:stage}-<name>\``);
      return {
        id,
        name: p.TableName,
        keySchema: p.KeySchema,
        attributeDefinitions: p.AttributeDefinitions,
        ...(p.GlobalSecondaryIndexes ? { globalSecondaryIndexes: p.GlobalSecondaryIndexes } : {}),
        ...(p.LocalSecondaryIndexes ? { localSecondaryIndexes: p.LocalSecondaryIndexes } : {}),
        ...(p.TimeToLiveSpecification ? { timeToLive: { attributeName: p.TimeToLiveSpecification.AttributeName, enabled: p.TimeToLiveSpecification.Enabled === true } } : {}),
      };
    });

  const buckets: BucketDeclaration[] = Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::S3::Bucket')
    .map(([id, r]) => ({
      id,
      lifecycle: (r.Properties?.LifecycleConfiguration?.Rules ?? [])
        .filter((rule: any) => rule.Status === 'Enabled' && rule.ExpirationInDays !== undefined)
        .map((rule: any) => ({
          id: rule.Id,
          prefix: rule.Prefix ?? rule.Filter?.Prefix ?? '',
          tags: Object.fromEntries((rule.TagFilters ?? []).map((tag: any) => [tag.Key, tag.Value])),
          expirationInDays: rule.ExpirationInDays,
        })),
    }));

  const tableNames = new Set(tables.map((table) => table.name));
  const tableVariables: Record<string, Record<string, string>> = {};
  for (const [name, fn] of Object.entries<any>(service.functions ?? {})) {
    const own = Object.entries<unknown>(fn.environment ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && tableNames.has(entry[1]));
    if (own.length) tableVariables[name] = Object.fromEntries(own);
  }
  const parameterVariables: Record<string, Record<string, string>> = {};
  for (const [name, fn] of Object.entries<any>(service.functions ?? {})) {
    const own = Object.entries<unknown>(fn.environment ?? {})
      .filter((entry): entry is [string, string] => entry[0].endsWith('_PARAMETER') && typeof entry[1] === 'string')
      .map(([variable, parameter]) => [variable.slice(0, -'_PARAMETER'.length), parameter]);
    if (own.length) parameterVariables[name] = Object.fromEntries(own);
  }
  return { stage, service: service.service, tables, buckets, parameters: { ...(service.custom?.parameters ?? {}) }, tableVariables, parameterVariables };
}

/**
 * Every function's table variables together, as one environment for the local stack; a variable
 * two functions set to different tables is refused, naming both.
 */
export function tableEnvironment(declarations: Declarations): Record<string, string> {
  const env: Record<string, string> = {};
  const setBy: Record<string, string> = {};
  for (const [fn, variables] of Object.entries(declarations.tableVariables)) {
    for (const [variable, table] of Object.entries(variables)) {
      if (env[variable] !== undefined && env[variable] !== table) {
        throw new Error(`${variable} names table ${env[variable]} in function ${setBy[variable]} but ${table} in function ${fn}: give each table its own variable`);
      }
      env[variable] = table;
      setBy[variable] = fn;
    }
  }
  return env;
}
