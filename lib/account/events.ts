import { createEventBridgePublisher, createLoggingPublisher } from '../adapters/eventbridge';
import type { EventPublisher } from './ports';
import { ConfigError, loadUserEventsConfig, type Env } from '../config';
import type { Logger } from '../logger';

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

