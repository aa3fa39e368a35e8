// The "typical" bundle this project is measured against: both SDK clients, nothing else.
export { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
export { Redis } from '@upstash/redis';
