import type { Redis } from '@upstash/redis';
import { AppError } from '../errors';
import type { EventClaim, EventDedupe } from '../push/ports';

/** The slice of the Upstash client this adapter uses: plain SET (NX, EX), GET and DEL, Redis 6.2 forms. */
export type RedisLike = Pick<Redis, 'set' | 'get' | 'del'>;

export interface DedupeTimes {
  /**
   * How long a claim holds while its request runs. No longer than the function's timeout (5 s,
   * deploy/routes/wechat-events.yml), after which its owner is dead for sure: a longer claim would only answer
   * WeChat's retries of an event whose first attempt died "still running". A retry that meets a
   * live claim is told to come back, never "done".
   */
  runningSeconds: number;
  /**
   * How long a done event is remembered: past WeChat's three retries (5 s apart), and past the
   * time a replay of its request still passes the 5-minute timestamp check (the timestamp may be
   * up to 5 minutes ahead of our clock, and the replay up to 5 minutes after it).
   */
  doneSeconds: number;
}

export const DEDUPE_TIMES: DedupeTimes = { runningSeconds: 5, doneSeconds: 600 };

const RUNNING = 'p';
const DONE = 'd';

/**
 * The record in Upstash Redis, `<prefix>push:<event id>`: `p` while a request runs the event,
 * `d` once it is done. The id is a digest, so no openid is ever a Redis key. Every failure is
 * SERVICE_UNAVAILABLE (503), which WeChat retries; Upstash's own message is never logged,
 * since it quotes the command.
 */
export class RedisEventDedupe implements EventDedupe {
  constructor(
    private readonly redis: RedisLike,
    private readonly keyPrefix: string,
    private readonly times: DedupeTimes = DEDUPE_TIMES,
  ) {}

  async claim(eventId: string): Promise<EventClaim> {
    const key = this.key(eventId);
    const set = await guard(() => this.redis.set(key, RUNNING, { nx: true, ex: this.times.runningSeconds }));
    if (set === 'OK') return 'claimed';
    // Taken: read whose. (SET NX GET would say it in the same request, but only from Redis 7.0.)
    // Gone again in between (a claim lapsed) reads as running: the caller asks WeChat to retry.
    return (await guard(() => this.redis.get<string>(key))) === DONE ? 'done' : 'running';
  }

  async complete(eventId: string): Promise<void> {
    await guard(() => this.redis.set(this.key(eventId), DONE, { ex: this.times.doneSeconds }));
  }

  async release(eventId: string): Promise<void> {
    await guard(() => this.redis.del(this.key(eventId)));
  }

  private key(eventId: string): string {
    return `${this.keyPrefix}push:${eventId}`;
  }
}

async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    throw new AppError('SERVICE_UNAVAILABLE', 'push dedupe store request failed', { cause: err, details: { store: 'redis' } });
  }
}
