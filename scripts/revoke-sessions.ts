/**
 * Operator tool: revoke sessions in the Redis the service uses (UPSTASH_REDIS_REST_URL/TOKEN,
 * REDIS_KEY_PREFIX from the environment, as the functions read them).
 *
 *   npm run revoke -- --user 01KAX…     every session of one user
 *   npm run revoke -- --all             every session of every user (e.g. after a leak)
 */
import { createRedisClient } from '../lib/clients/redis';
import { loadRedisConfig, loadSessionConfig } from '../lib/config';
import { RedisSessionStore } from '../lib/sessions/store';

const args = process.argv.slice(2);
const userAt = args.indexOf('--user');
const userId = userAt >= 0 ? args[userAt + 1] : undefined;
const everything = args.includes('--all');
if ((!userId && !everything) || (userId && everything)) {
  console.error('usage: npm run revoke -- --user <userId> | --all');
  process.exit(2);
}

const redis = loadRedisConfig();
const store = new RedisSessionStore(createRedisClient(redis), {
  keyPrefix: redis.keyPrefix,
  userIndexTtlSeconds: loadSessionConfig().maxAgeSeconds,
});
const revoked = userId ? await store.revokeAll(userId) : await store.revokeEverything();
console.log(userId ? `revoked ${revoked} session(s) of user ${userId}` : `revoked ${revoked} session(s) of all users`);
