import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Config } from '../config';

/**
 * One DynamoDB client per container, created at cold start and reused (keep-alive is the
 * SDK's default). Timeouts are bounded so a sick region fails the login fast with 503
 * instead of holding it until the Lambda times out; throttling gets the SDK's retries.
 */
export function createDynamoClient(config: Config['dynamodb']): DynamoDBClient {
  return new DynamoDBClient({
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: Math.min(1000, config.timeoutMs), requestTimeout: config.timeoutMs },
  });
}
