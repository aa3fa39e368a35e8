// What every function with DynamoDB does at its initialisation, and nothing else: its client
// made as lib/ makes it. The lazy-builtins section (bench/sections/lazy-builtins.ts) imports it
// built as deployed, where a builtin loaded for nothing is not lost in the rest of a login's init.
import { createDynamoClient } from '../lib/adapters/dynamodb';
import { loadDynamoConfig } from '../lib/config';

export const client = createDynamoClient(loadDynamoConfig(process.env));
