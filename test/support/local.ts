import type { TableDeclaration } from '../../local/template';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, vi } from 'vitest';
import { RespClient, type Reply } from '../../local/resp';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { lambdaContext } from './events';

export type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
type FunctionName = 'login' | 'authorizer' | 'me' | 'hello' | 'logout' | 'sessions' | 'admin' | 'opendata' | 'phone' | 'avatar' | 'profile' | 'delete-account' | 'export-account' | 'wechat-events';

/**
 * A Lambda cold start in miniature: load a function module afresh with `env` in place, as a
 * new container would. The environment stays set, as in Lambda: the AWS SDK reads
 * credentials and region lazily, at the first request. (Each test file runs in its own process.)
 */
export async function coldStart(module: Exclude<FunctionName, 'authorizer'>, env: Record<string, string>): Promise<Handler>;
export async function coldStart(module: 'authorizer', env: Record<string, string>): Promise<(event: unknown) => Promise<any>>;
export async function coldStart(module: FunctionName, env: Record<string, string>): Promise<(event: any) => Promise<any>> {
  Object.assign(process.env, env);
  vi.resetModules();
  const loaded = (await import(`../../functions/${module}.ts`)) as { handler: (e: unknown, c: typeof lambdaContext) => Promise<unknown> };
  return (event) => loaded.handler(event, lambdaContext);
}

/** Starts a private local stack for one test file and stops it afterwards. */
export function useLocalStack(env: Record<string, string> = {}) {
  const ctx = {} as { stack: LocalStack; env: Record<string, string>; redis: RespClient };
  beforeAll(async () => {
    ctx.stack = await startLocalStack({ env: { LOG_LEVEL: 'error', ...env } });
    ctx.env = ctx.stack.env;
    ctx.redis = new RespClient(ctx.stack.redis.address);
  });
  afterAll(async () => {
    ctx.redis?.close();
    await ctx.stack?.stop();
  });
  return ctx;
}

/** Every key in Redis with its value(s), as text, to look for what must never be there. */
export async function dumpRedis(redis: RespClient): Promise<string> {
  const [keys] = await redis.send([['KEYS', '*']]);
  const names = replyText(keys!).split(' ').filter(Boolean);
  const out: string[] = [];
  for (const name of names) {
    const [type] = await redis.send([['TYPE', name]]);
    const command = { string: 'GET', hash: 'HGETALL', set: 'SMEMBERS' }[replyText(type!)] ?? 'TYPE';
    const [value] = await redis.send([[command, name]]);
    out.push(name, replyText(value!));
  }
  return out.join('\n');
}

function replyText(reply: Reply): string {
  if (reply.type === 'array') return (reply.value ?? []).map(replyText).join(' ');
  if (reply.type === 'bulk') return reply.value?.toString() ?? '';
  if (reply.type === 'error') return reply.message;
  return String(reply.value);
}

/** One command straight to redis-server (not through the gateway), its reply as plain JS. */
export async function redisCommand(redis: RespClient, ...args: string[]): Promise<unknown> {
  const [reply] = await redis.send([args]);
  return plain(reply!);
}

function plain(reply: Reply): unknown {
  switch (reply.type) {
    case 'array':
      return reply.value?.map(plain) ?? null;
    case 'bulk':
      return reply.value?.toString() ?? null;
    case 'error':
      throw new Error(reply.message);
    default:
      return reply.value;
  }
}

/** A table keyed by `openid` alone, as the users table: for tests of a transport, not of the template's tables. */
export function keyedByOpenid(name: string): TableDeclaration {
  return { id: 'TestTable', name, keySchema: [{ AttributeName: 'openid', KeyType: 'HASH' }], attributeDefinitions: [{ AttributeName: 'openid', AttributeType: 'S' }] };
}
