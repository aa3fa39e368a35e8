/**
 * Operator tool: revoke sessions in the Redis the service uses (UPSTASH_REDIS_REST_URL/TOKEN,
 * REDIS_KEY_PREFIX from the environment, as the functions read them, or from --env FILE).
 *
 *   npm run revoke -- --user 01KAX…     every session of one user
 *   npm run revoke -- --all             every session of every user (e.g. after a leak)
 *   npm run revoke -- --env .local/dev-3000.env --user 01KAX…   against `npm run dev` on port 3000
 */
import { parseArgs } from 'node:util';
import { createRedisClient } from '../lib/adapters/redis';
import { ConfigError, loadRedisConfig, loadSessionConfig } from '../lib/config';
import { RedisSessionStore } from '../lib/adapters/redis-sessions';
import { loadEnvFile } from '../local/env-file';

const USAGE = 'usage: npm run revoke -- [--env FILE] --user <userId> | --all';

function fail(message: string, code = 2): never {
  console.error(`npm run revoke: ${message}`);
  process.exit(code);
}

let values: { user?: string; all?: boolean; env?: string };
try {
  ({ values } = parseArgs({ options: { user: { type: 'string' }, all: { type: 'boolean' }, env: { type: 'string' } } }));
} catch (err) {
  fail(`${(err as Error).message}; ${USAGE}`);
}
const userId = values.user;
if ((!userId && !values.all) || (userId && values.all)) fail(USAGE);
if (values.env) {
  const problem = loadEnvFile(values.env);
  if (problem) fail(problem);
}
const missing = ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'].filter((name) => !process.env[name]);
if (missing.length) fail(`set ${missing.join(' and ')}, or give --env .local/dev-<port>.env (npm run dev writes it)`);

let store: RedisSessionStore;
try {
  const redis = loadRedisConfig();
  store = new RedisSessionStore(createRedisClient(redis), {
    keyPrefix: redis.keyPrefix,
    userIndexTtlSeconds: loadSessionConfig().maxAgeSeconds,
  });
} catch (err) {
  if (err instanceof ConfigError) fail(err.message);
  throw err;
}
try {
  const revoked = userId ? await store.revokeAll(userId) : await store.revokeEverything();
  console.log(userId ? `revoked ${revoked} session(s) of user ${userId}` : `revoked ${revoked} session(s) of all users`);
} catch (err) {
  fail(`cannot reach Redis at ${process.env.UPSTASH_REDIS_REST_URL}: ${(err as Error).message}`, 1);
}
