/**
 * Operator tool over the users (docs/identities.md), against the tables the service uses
 * (USERS_TABLE, UNIONIDS_TABLE, DYNAMODB_ENDPOINT, AWS credentials and region from the
 * environment, as the functions read them, or from --env FILE):
 *
 *   npm run users -- show <userId | phone | openid>     the user, identities, status, sessions
 *   npm run users -- suspend <userId> --reason "…" [--until ISO]    (and unsuspend <userId>)
 *   npm run users -- merge <fromUserId> <intoUserId>
 *                                        one person's two users made one: the first's identities,
 *                                        phone number, profile and avatar go to the second, and
 *                                        its sessions end (docs/identities.md, "Merging users")
 *   npm run users -- claim-unionids      the upgrade's pass: claims the unionid of every row
 *                                        from before identities (docs/deploy.md, "Upgrading")
 *   npm run users -- --env .local/dev-3000.env merge …           against `npm run dev` on port 3000
 *
 * The merge also needs PHONES_TABLE, AVATAR_BUCKET (and S3_ENDPOINT locally), the Upstash URL
 * and token, and USER_EVENTS (where UsersMerged goes: eventbridge, or log).
 */
import { parseArgs } from 'node:util';
import { createDynamoClient } from '../lib/adapters/dynamodb';
import { DynamoUserRepository } from '../lib/adapters/dynamodb-users';
import { ConfigError, loadDynamoConfig, loadUnionidsTable, loadUsersTable } from '../lib/config';
import { AppError } from '../lib/errors';
import { composeMerge, composeOperator } from '../lib/users/compose';
import { loadEnvFile } from '../local/env-file';
import { claimLegacyUnionids } from '../lib/users/upgrade';

const USAGE = `usage: npm run users -- [--env FILE] <command>
  show <userId | phone | openid>                 the user, its identities, its status and sessions
  suspend <userId> --reason "…" [--until ISO]    no sign-in until lifted or until the end time; its sessions end now
  unsuspend <userId>
  merge <fromUserId> <intoUserId>                one person's two users made one
  claim-unionids                                 the upgrade's pass (docs/deploy.md)`;

function fail(message: string, code = 2): never {
  console.error(`npm run users: ${message}`);
  process.exit(code);
}

let parsed: { values: { env?: string; help?: boolean; reason?: string; until?: string }; positionals: string[] };
try {
  parsed = parseArgs({ options: { env: { type: 'string' }, help: { type: 'boolean', short: 'h' }, reason: { type: 'string' }, until: { type: 'string' } }, allowPositionals: true });
} catch (err) {
  fail(`${(err as Error).message}; ${USAGE}`);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const [command, ...rest] = parsed.positionals;
const ULID = /^[0-9A-Z]{26}$/;
const valid =
  (command === 'claim-unionids' && rest.length === 0) ||
  (command === 'merge' && rest.length === 2 && rest.every((id) => ULID.test(id))) ||
  (command === 'show' && rest.length === 1) ||
  ((command === 'suspend' || command === 'unsuspend') && rest.length === 1 && ULID.test(rest[0]!));
if (!valid) fail(command === 'merge' || command === 'suspend' || command === 'unsuspend' ? `${command} takes userIds (26-character ULIDs)\n${USAGE}` : USAGE);
if (command === 'suspend' && !parsed.values.reason?.trim()) fail('suspend needs --reason "…" (kept for the operators, never told to the user)');
const until = parsed.values.until === undefined ? undefined : new Date(parsed.values.until);
if (until && Number.isNaN(until.getTime())) fail(`--until must be an ISO time, e.g. 2027-01-31T00:00:00Z, got ${parsed.values.until}`);
if (parsed.values.env) {
  const problem = loadEnvFile(parsed.values.env);
  if (problem) fail(problem);
}

/** A configuration problem, said in one line with what to do. */
const configured = <T>(build: () => T): T => {
  try {
    return build();
  } catch (err) {
    if (err instanceof ConfigError) fail(`${err.message}, or give --env .local/dev-<port>.env (npm run dev writes it)`);
    throw err;
  }
};

// The report is the output: the service's own log lines only when something goes wrong.
process.env.LOG_LEVEL ??= 'warn';

if (command === 'show' || command === 'suspend' || command === 'unsuspend') {
  const operator = configured(() => composeOperator());
  const [target] = rest as [string];
  try {
    if (command === 'show') {
      const user = await operator.show(target);
      if (!user) fail(`no user for ${target}`, 1);
      console.log(JSON.stringify(user, null, 2));
    } else if (command === 'suspend') {
      const { sessionsEnded } = await operator.suspend(target, { reason: parsed.values.reason!, ...(until ? { until } : {}) });
      console.log(`suspended user ${target}${until ? ` until ${until.toISOString()}` : ''}: ${sessionsEnded} session(s) ended`);
    } else {
      await operator.unsuspend(target);
      console.log(`user ${target} may sign in again`);
    }
  } catch (err) {
    const code = err instanceof AppError ? err.code : '';
    fail(`${(err as Error).message}${code === 'NOT_FOUND' || code === 'INVALID_REQUEST' ? '' : '; it is safe to run again'}`, 1);
  }
  process.exit(0);
}

if (command === 'merge') {
  const [from, into] = rest as [string, string];
  const { merge } = configured(() => composeMerge());
  try {
    const report = await merge(from, into);
    const dropped = Object.entries(report.dropped).map(([what, value]) => (what === 'phone' ? `phone ${value}` : what));
    if (report.alreadyMerged) {
      console.log(`user ${from} was merged into ${into} already: nothing left to move`);
      process.exit(0);
    }
    console.log(`merged user ${from} into ${into}: ${report.identities} identit${report.identities === 1 ? 'y' : 'ies'} moved, ${report.sessionsEnded} session(s) ended`);
    console.log(`  moved: ${report.moved.join(', ') || 'nothing else'}`);
    console.log(`  dropped (${into} kept its own): ${dropped.join(', ') || 'nothing'}`);
  } catch (err) {
    const code = err instanceof AppError ? err.code : '';
    fail(`${(err as Error).message}${code === 'NOT_FOUND' || code === 'INVALID_REQUEST' ? '' : '; it is safe to run again'}`, 1);
  }
} else {
  const users = configured(() => new DynamoUserRepository(createDynamoClient(loadDynamoConfig()), loadUsersTable(), loadUnionidsTable()));
  try {
    const report = await claimLegacyUnionids(users, (line) => console.log(line));
    console.log(`claimed ${report.claimed} unionid(s); ${report.conflicts} held by another user${report.conflicts ? ' (recorded on the row: merge them with the merge command)' : ''}`);
  } catch (err) {
    fail(`cannot complete: ${(err as Error).message}; it is safe to run again`, 1);
  }
}
