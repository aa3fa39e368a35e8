import { AppError } from '../errors';
import { awsJson, type AwsJsonOptions } from './aws-json';
import type { EventPublisher } from '../account/ports';

/** Publishes one event to EventBridge's default bus (PutEvents), signed, without the SDK client. */
export function createEventBridgePublisher(options: Omit<AwsJsonOptions, 'service' | 'target' | 'idempotent'> & { source: string }): EventPublisher {
  const { source, ...aws } = options;
  return {
    async publish(detailType, detail) {
      let answer: { status: number; body: string };
      try {
        // Sent at most once by the transport (PutEvents is not idempotent); the caller's own
        // retry may publish twice, so consumers must tolerate a repeat (docs/api.md, `POST /user/delete`, says so).
        answer = await awsJson(
          { Entries: [{ Source: source, DetailType: detailType, Detail: JSON.stringify(detail), EventBusName: 'default' }] },
          { ...aws, service: 'events', target: 'AWSEvents.PutEvents', idempotent: false },
        );
      } catch (err) {
        throw new AppError('SERVICE_UNAVAILABLE', 'event bus request failed', { cause: err, details: { store: 'eventbridge' } });
      }
      let failed = 1;
      try {
        failed = Number((JSON.parse(answer.body) as { FailedEntryCount?: number }).FailedEntryCount ?? 0);
      } catch {
        // not JSON: counted as failed below
      }
      if (answer.status !== 200 || failed > 0) {
        throw new AppError('SERVICE_UNAVAILABLE', `event bus refused the event (HTTP ${answer.status})`, { details: { store: 'eventbridge' } });
      }
    },
  };
}

/** Locally (and where the operator turned publishing off): the event is only logged. */
export function createLoggingPublisher(log: { info(message: string, fields?: Record<string, unknown>): void }): EventPublisher {
  return {
    async publish(detailType, detail) {
      log.info('event not published (event bus off): logged instead', { detailType, detail });
    },
  };
}
