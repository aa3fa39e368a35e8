import type { AccountEvents, Revoked } from '../../lib/account/ports';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { EventClaim, EventDedupe } from '../../lib/push/ports';

/** The Redis record's semantics in memory (lib/adapters/redis-push-dedupe.ts): `running` while claimed, `done` after; `fail` makes the next call of that method throw. */
export class InMemoryEventDedupe implements EventDedupe {
  readonly records = new Map<string, 'running' | 'done'>();
  fail: Partial<Record<keyof EventDedupe, boolean>> = {};

  async claim(eventId: string): Promise<EventClaim> {
    this.maybeFail('claim');
    const record = this.records.get(eventId);
    if (record) return record;
    this.records.set(eventId, 'running');
    return 'claimed';
  }

  async complete(eventId: string): Promise<void> {
    this.maybeFail('complete');
    this.records.set(eventId, 'done');
  }

  async release(eventId: string): Promise<void> {
    this.maybeFail('release');
    this.records.delete(eventId);
  }

  private maybeFail(method: keyof EventDedupe): void {
    if (!this.fail[method]) return;
    this.fail[method] = false;
    throw new AppError('SERVICE_UNAVAILABLE', 'store request failed');
  }
}

export type AccountCall =
  | { method: 'authorizationRevoked'; openid: string; revoked: Revoked }
  | { method: 'accountCancelled'; openid: string }
  | { method: 'infoModified'; openid: string };

/** AccountEvents that records its calls; `failNext` makes the next call throw `error`. */
export function recordingAccountEvents() {
  const calls: AccountCall[] = [];
  const state: { failNext: number; error: unknown } = { failNext: 0, error: new AppError('SERVICE_UNAVAILABLE', 'account store down') };
  const run = async (call: AccountCall, log: Logger) => {
    calls.push(call);
    if (state.failNext > 0) {
      state.failNext--;
      throw state.error;
    }
    log.info('fake account event applied');
  };
  const events: AccountEvents = {
    authorizationRevoked: (openid, revoked, log) => run({ method: 'authorizationRevoked', openid, revoked }, log),
    accountCancelled: (openid, log) => run({ method: 'accountCancelled', openid }, log),
    infoModified: (openid, log) => run({ method: 'infoModified', openid }, log),
  };
  return { events, calls, state };
}
