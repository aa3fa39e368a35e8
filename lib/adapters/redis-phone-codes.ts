import type { Redis } from '@upstash/redis';
import { AppError } from '../errors';
import type { CodeLookup, PhoneCodeStore } from '../phone/service';

/** The slice of the Upstash client this adapter uses. */
export type RedisLike = Pick<Redis, 'eval' | 'get' | 'set' | 'multi'>;

/**
 * Rate limit and lookup as one atomic step (one request). KEYS: the code's result, the user's
 * recent attempts (a sorted set of the codes tried, scored by time: a sliding window). An
 * attempt is a code: the kit's retries of one code after a 503, and a re-sent request, count
 * once, so an outage does not use up a user's attempts. ARGV: userId, limit, window (ms),
 * now (ms), the code's id. A result is stored as `<userId>|<sealed>`.
 */
export const PHONE_CODE_SCRIPT = `-- wxlogin:phone-code
local limit = tonumber(ARGV[2])
if limit > 0 then
  local window = tonumber(ARGV[3])
  local now = tonumber(ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if not redis.call('ZSCORE', KEYS[2], ARGV[5]) and redis.call('ZCARD', KEYS[2]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {'limited', tostring(tonumber(oldest[2]) + window - now)}
  end
  redis.call('ZADD', KEYS[2], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], window)
end
local stored = redis.call('GET', KEYS[1])
if not stored then return {'new'} end
local bar = string.find(stored, '|', 1, true)
if not bar or string.sub(stored, 1, bar - 1) ~= ARGV[1] then return {'foreign'} end
return {'done', string.sub(stored, bar + 1)}
`;

/** The Redis key of a user's index of phone-code results: account deletion deletes what it lists. */
export function phoneCodesKey(keyPrefix: string, userId: string): string {
  return `${keyPrefix}user-phone-codes:${userId}`;
}

/** Phone-code results and per-user binding attempts in Upstash Redis. Failures are SERVICE_UNAVAILABLE. */
export class RedisPhoneCodeStore implements PhoneCodeStore {
  constructor(
    private readonly redis: RedisLike,
    private readonly keyPrefix: string,
  ) {}

  async begin(codeId: string, userId: string, limit: { limit: number; windowSeconds: number; now: number }): Promise<CodeLookup> {
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(
        PHONE_CODE_SCRIPT,
        [this.codeKey(codeId), `${this.keyPrefix}rate:phone:${userId}`],
        [userId, String(limit.limit), String(limit.windowSeconds * 1000), String(limit.now), codeId],
      ),
    );
    const [state, value] = Array.isArray(reply) ? reply.map(String) : [];
    switch (state) {
      case 'new':
      case 'foreign':
        return { state };
      case 'done':
        return { state, sealed: String(value) };
      case 'limited':
        return { state, retryAfterSeconds: Math.max(1, Math.ceil(Number(value) / 1000)) };
      default:
        throw new AppError('SERVICE_UNAVAILABLE', 'unexpected reply to the phone-code script', { details: { store: 'redis' } });
    }
  }

  async lookup(codeId: string, userId: string): Promise<string | undefined> {
    const stored = await guard(() => this.redis.get<string>(this.codeKey(codeId)));
    if (typeof stored !== 'string') return undefined;
    const bar = stored.indexOf('|');
    return bar > 0 && stored.slice(0, bar) === userId ? stored.slice(bar + 1) : undefined;
  }

  async remember(codeId: string, userId: string, sealed: string, ttlSeconds: number): Promise<void> {
    // With the user's index of code results, so that deleting the user deletes them too.
    const tx = this.redis.multi();
    tx.set(this.codeKey(codeId), `${userId}|${sealed}`, { ex: ttlSeconds });
    tx.sadd(this.userCodesKey(userId), this.codeKey(codeId));
    tx.expire(this.userCodesKey(userId), ttlSeconds);
    await guard(() => tx.exec());
  }

  /** The user's index of phone-code results (for account deletion). */
  userCodesKey(userId: string): string {
    return phoneCodesKey(this.keyPrefix, userId);
  }

  private codeKey(codeId: string): string {
    return `${this.keyPrefix}phone-code:${codeId}`;
  }
}

async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw new AppError('SERVICE_UNAVAILABLE', 'phone code store request failed', { cause: err, details: { store: 'redis' } });
  }
}
