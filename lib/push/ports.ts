/**
 * Where a pushed event stands: this request now runs it, it has been done, or another request
 * is running it (or died running it, until its claim lapses).
 */
export type EventClaim = 'claimed' | 'done' | 'running';

/** The port the push use case keeps its "processed once" record in. */
export interface EventDedupe {
  /** Claims the event for this request, or says who has it. */
  claim(eventId: string): Promise<EventClaim>;
  /** Marks the event done: WeChat's retries and replays of it are answered without running it again. */
  complete(eventId: string): Promise<void>;
  /** Lets go of a claim whose handler failed, so that WeChat's retry runs the event. */
  release(eventId: string): Promise<void>;
}
