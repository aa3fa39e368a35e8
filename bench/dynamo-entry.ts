// The two DynamoDB request handlers issue 15 asks to compare (bench/sections/dynamo-handler.ts), built as the
// functions are: the client as lib/ makes it (its own node:http handler), and what the SDK
// offers instead, over the same repository code a login runs.
export { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export { NodeHttpHandler } from '@smithy/node-http-handler';
export { createDynamoClient } from '../lib/adapters/dynamodb';
export { loadDynamoConfig, loadUsersTable } from '../lib/config';
export { DynamoUserRepository } from '../lib/adapters/dynamodb-users';
