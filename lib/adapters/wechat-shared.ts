import { AppError } from '../errors';

/**
 * What every call to WeChat's server APIs shares: the JSON answer (sent with a text/plain
 * content type, so read as text and parsed), its errcode, the -1 "system busy" answer retried
 * within a deadline, and failures described without a foreign error's message.
 */

/** WeChat's "system busy, try again later": the one answer worth asking again. */
export const BUSY = -1;

/** Why a call failed, for WECHAT_UNAVAILABLE; the caller names the API. */
export type Unavailable = (reason: string, details: Record<string, unknown>) => AppError;

/** A parsed answer: a JSON object, with its errcode as a number (0 when absent). */
export interface Answer {
  errcode: number;
  errmsg: string;
  body: Record<string, unknown>;
}

/**
 * Parses an answer's text. Success has no errcode in most APIs (older ones send 0); an
 * errcode sent as a string is read as its number. Anything else is WeChat not answering.
 */
export function parseAnswer(text: string, unavailable: Unavailable): Answer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unavailable('unparseable reply', { length: text.length });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw unavailable('unparseable reply', { type: Array.isArray(parsed) ? 'array' : typeof parsed });
  }
  const body = parsed as Record<string, unknown>;
  const raw = body.errcode ?? 0;
  const errcode = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() ? Number(raw) : NaN;
  if (!Number.isInteger(errcode)) throw unavailable('unparseable reply', { errcodeType: typeof raw });
  return { errcode, errmsg: typeof body.errmsg === 'string' ? body.errmsg.slice(0, 300) : '', body };
}

export interface BusyRetryOptions {
  /** Epoch ms by which the last attempt must have started and ended. */
  deadline: number;
  /** Time limit of one attempt; shortened to what is left of the deadline. */
  timeoutMs: number;
  /** Waits before the 1st, 2nd, … retry of a busy answer; jitter of ±50 % is added. */
  backoffMs: readonly number[];
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/**
 * Runs `attempt` until it answers something other than BUSY, at most once per backoff step
 * plus one, never past the deadline. The jitter keeps containers that hit the same busy
 * moment from retrying in step (AWS Builders' Library, "Timeouts, retries, and backoff with
 * jitter"). Only -1 is retried: a timeout is not, because WeChat may have acted on the request.
 */
export async function retryWhileBusy<T>(
  attempt: (timeoutMs: number) => Promise<T | typeof BUSY>,
  options: BusyRetryOptions,
  unavailable: Unavailable,
): Promise<T> {
  const { deadline, now } = options;
  for (let tries = 0; ; tries++) {
    const remaining = deadline - now();
    if (remaining <= 0) throw unavailable('deadline exceeded', { attempt: tries });
    const result = await attempt(Math.min(options.timeoutMs, remaining));
    if (result !== BUSY) return result;

    const wait = options.backoffMs[tries];
    if (wait === undefined) throw unavailable('busy after retries', { attempts: tries + 1 });
    const jittered = Math.round(wait * (0.5 + options.random()));
    if (now() + jittered >= deadline) throw unavailable('busy, no time left to retry', { attempts: tries + 1 });
    await options.sleep(jittered);
  }
}

/** The system error's code (ECONNREFUSED, …), never its message: that can hold the URL. */
export function networkCause(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err.name;
}

/** The failure of one HTTP exchange with WeChat, as WECHAT_UNAVAILABLE. */
export function transportFailure(err: unknown, timeoutMs: number, unavailable: Unavailable): AppError {
  const timedOut = err instanceof Error && err.name === 'TimeoutError';
  return unavailable(timedOut ? 'timeout' : 'network error', { timeoutMs, cause: networkCause(err) });
}

export const sleeper = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
