/**
 * Operator tool over the users (docs/identities.md), against the tables the service uses
 * (USERS_TABLE, UNIONIDS_TABLE, DYNAMODB_ENDPOINT, AWS credentials and region from the
 * environment, as the functions read them, or from --env FILE):
 *
 *   npm run users -- claim-unionids      the upgrade's pass: claims the unionid of every row
 *                                        from before identities (docs/deploy.md, "Upgrading")
 *   npm run users -- --env .local/dev-3000.env claim-unionids    against `npm run dev` on port 3000
 */
import { parseArgs } from 'node:util';
import { createDynamoClient } from '../lib/adapters/dynamodb';
import { DynamoUserRepository } from '../lib/adapters/dynamodb-users';
import { ConfigError, loadDynamoConfig, loadUnionidsTable, loadUsersTable } from '../lib/config';
import { loadEnvFile } from '../local/env-file';
import { claimLegacyUnionids } from '../lib/users/upgrade';

const USAGE = 'usage: npm run users -- [--env FILE] claim-unionids';

function fail(message: string, code = 2): never {
  console.error(`npm run users: ${message}`);
  process.exit(code);
}

let parsed: { values: { env?: string }; positionals: string[] };
try {
  parsed = parseArgs({ options: { env: { type: 'string' } }, allowPositionals: true });
} catch (err) {
  fail(`${(err as Error).message}; ${USAGE}`);
}
const [command, ...rest] = parsed.positionals;
if (command !== 'claim-unionids' || rest.length > 0) fail(USAGE);
if (parsed.values.env) {
  const problem = loadEnvFile(parsed.values.env);
  if (problem) fail(problem);
}

let users: DynamoUserRepository;
try {
  users = new DynamoUserRepository(createDynamoClient(loadDynamoConfig()), loadUsersTable(), loadUnionidsTable());
} catch (err) {
  if (err instanceof ConfigError) fail(`${err.message}, or give --env .local/dev-<port>.env (npm run dev writes it)`);
  throw err;
}
try {
  const report = await claimLegacyUnionids(users, (line) => console.log(line));
  console.log(`claimed ${report.claimed} unionid(s); ${report.conflicts} held by another user (recorded on the row: merge them with the merge command)`);
} catch (err) {
  fail(`cannot complete: ${(err as Error).message}; it is safe to run again`, 1);
}
