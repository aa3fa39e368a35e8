import type { Redis } from '@upstash/redis';
import { AppError } from '../errors';
import type { BindingLease, CodeLookup, PhoneCodeStore, PhoneLeases } from '../phone/service';
import { open, seal } from '../crypto';
import { DELETION_MARK_MS } from '../users/ports';

const LEASE_PURPOSE = 'phone-lease';

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

/**
 * Keeps a code's result with the user's index of results (account deletion deletes what it
 * lists) and takes the binding's lease, in one request, unless the user's deletion has begun.
 * KEYS: the code's result, the user's index of results, the user's leases (a sorted set of
 * `<token>|<number, sealed>`, scored by each lease's end), the user's deletion mark. ARGV: the value,
 * its TTL (s), the lease's member, its end (ms), how long the lease set outlives it (ms).
 */
export const REMEMBER_SCRIPT = `-- wxlogin:phone-remember
if redis.call('EXISTS', KEYS[4]) == 1 then return 'deleting' end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return 'kept'
`;

/**
 * An account deletion closes the user's leases (one request): the deletion mark, then the
 * leases taken before it. KEYS: the user's deletion mark, the user's leases. ARGV: the mark's
 * TTL (ms). Returns a flat list: `<token>|<number, sealed>`, lease end (ms).
 */
export const CLOSE_LEASES_SCRIPT = `-- wxlogin:phone-leases-close
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
`;

/**
 * How long the lease set outlives its last lease: longer than the claims table's index takes to
 * show a claim (eventually consistent, typically under a second), so a deletion finds a recent
 * claim here if not there.
 */
export const LEASE_SET_AFTERLIFE_MS = 60_000;

/** The Redis key of a user's index of phone-code results: account deletion deletes what it lists. */
export function phoneCodesKey(keyPrefix: string, userId: string): string {
  return `${keyPrefix}user-phone-codes:${userId}`;
}

/**
 * What an account deletion removes of the user's phone keys: the index of code results (with
 * every result it lists), the binding attempts counted for the limit, and the bindings' leases
 * (closed and read by then). The deletion mark is not among them: it lapses by itself, and
 * until then refuses a binding still in flight.
 */
export function phoneKeysOf(keyPrefix: string, userId: string): { index: string; others: string[] } {
  return { index: phoneCodesKey(keyPrefix, userId), others: [phoneRateKey(keyPrefix, userId), phoneLeasesKey(keyPrefix, userId)] };
}

const phoneRateKey = (keyPrefix: string, userId: string) => `${keyPrefix}rate:phone:${userId}`;
const phoneLeasesKey = (keyPrefix: string, userId: string) => `${keyPrefix}phone-leases:${userId}`;

/** Phone-code results, per-user binding attempts and the bindings' leases in Upstash Redis. Failures are SERVICE_UNAVAILABLE. */
export class RedisPhoneCodeStore implements PhoneCodeStore, PhoneLeases {
  constructor(
    private readonly redis: RedisLike,
    private readonly keyPrefix: string,
    /**
     * What a leased number is sealed under (the Upstash token: every function that reads the
     * leases holds it), so that a Redis dump holds no phone number.
     */
    private readonly sealKey: string,
    /** How long a deletion's mark refuses new leases: longer than any deletion runs. */
    private readonly deletionMarkMs = DELETION_MARK_MS,
  ) {}

  async begin(codeId: string, userId: string, limit: { limit: number; windowSeconds: number; now: number }): Promise<CodeLookup> {
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(
        PHONE_CODE_SCRIPT,
        [this.codeKey(codeId), phoneRateKey(this.keyPrefix, userId)],
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

  async remember(codeId: string, userId: string, sealed: string, ttlSeconds: number, lease: BindingLease): Promise<'kept' | 'deleting'> {
    const reply = await guard(() =>
      this.redis.eval<string[], unknown>(
        REMEMBER_SCRIPT,
        [this.codeKey(codeId), this.userCodesKey(userId), this.leasesKey(userId), this.deletingKey(userId)],
        [`${userId}|${sealed}`, String(ttlSeconds), `${lease.token}|${seal(LEASE_PURPOSE, this.sealKey, lease.number)}`, String(lease.until), String(Math.max(1, lease.until - Date.now()) + LEASE_SET_AFTERLIFE_MS)],
      ),
    );
    if (reply === 'kept' || reply === 'deleting') return reply;
    throw new AppError('SERVICE_UNAVAILABLE', 'unexpected reply to the phone-remember script', { details: { store: 'redis' } });
  }

  async closeLeases(userId: string): Promise<BindingLease[]> {
    const reply = await guard(() => this.redis.eval<string[], unknown>(CLOSE_LEASES_SCRIPT, [this.deletingKey(userId), this.leasesKey(userId)], [String(this.deletionMarkMs)]));
    const flat = Array.isArray(reply) ? reply.map(String) : [];
    const leases: BindingLease[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const bar = flat[i]!.lastIndexOf('|');
      let number: string;
      try {
        number = open(LEASE_PURPOSE, this.sealKey, flat[i]!.slice(bar + 1));
      } catch {
        // Sealed under another Upstash token (rotated since): the claims index finds its claim.
        continue;
      }
      leases.push({ token: flat[i]!.slice(0, bar), number, until: Number(flat[i + 1]) || 0 });
    }
    return leases;
  }

  /** The user's index of phone-code results (for account deletion). */
  userCodesKey(userId: string): string {
    return phoneCodesKey(this.keyPrefix, userId);
  }

  private codeKey(codeId: string): string {
    return `${this.keyPrefix}phone-code:${codeId}`;
  }

  private leasesKey(userId: string): string {
    return phoneLeasesKey(this.keyPrefix, userId);
  }

  private deletingKey(userId: string): string {
    return `${this.keyPrefix}deleting:${userId}`;
  }
}

async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw new AppError('SERVICE_UNAVAILABLE', 'phone code store request failed', { cause: err, details: { store: 'redis' } });
  }
}
