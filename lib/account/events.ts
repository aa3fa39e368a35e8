import { createEventBridgePublisher, createLoggingPublisher } from '../adapters/eventbridge';
import type { EventPublisher } from './ports';
import { ConfigError, settings, type Env } from '../config';
import type { Logger } from '../logger';

/** Where `UserDeleted` goes: EventBridge's default bus, or only the log (locally, or turned off). */
export interface UserEventsConfig {
  publish: boolean;
  /** The event's `source`: the service and stage. */
  source: string;
  region: string | undefined;
  endpoint: string | undefined;
}

export function loadUserEventsConfig(env: Env = process.env): UserEventsConfig {
  const s = settings(env);
  return {
    publish: s.oneOf('USER_EVENTS', ['eventbridge', 'log'], 'log') === 'eventbridge',
    source: s.optional('SERVICE_NAME', 'wechat-login'),
    region: env.AWS_REGION?.trim() || undefined,
    endpoint: s.optionalUrl('EVENTBRIDGE_ENDPOINT'),
  };
}

/** `UserDeleted` on EventBridge's default bus (signed with the function's own credentials), or only logged. */
export function createUserEvents(env: Env, logger: Logger): EventPublisher {
  const config = loadUserEventsConfig(env);
  if (!config.publish) return createLoggingPublisher(logger);
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (!config.region || !accessKeyId || !secretAccessKey) throw new ConfigError('publishing to EventBridge needs AWS_REGION and credentials in the environment');
  return createEventBridgePublisher({
    source: config.source,
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    timeoutMs: 2000,
  });
}

