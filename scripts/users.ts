/**
 * Operator tool over the users (docs/operators.md, docs/identities.md), against the tables and
 * the Redis the service uses (USERS_TABLE, UNIONIDS_TABLE, PHONES_TABLE, DYNAMODB_ENDPOINT, the
 * Upstash URL and token, AWS credentials and region from the environment, as the functions read
 * them, or from --env FILE). The same use cases as the admin API (lib/users/operator.ts):
 *
 *   npm run users -- show <userId | phone | openid>     the user, identities, status, sessions, latest logins
 *   npm run users -- suspend <userId> --reason "…" [--until ISO]    (and unsuspend <userId>)
 *   npm run users -- sessions <userId>                   the user's live sessions
 *   npm run users -- revoke <userId> [--session <id>]    end one session, or every one (npm run revoke -- … is the same)
 *   npm run users -- revoke --all                        every session of every user (after a leak)
 *   npm run users -- export <userId>                     everything stored about the user (JSON)
 *   npm run users -- delete <userId>                     the account deleted, as POST /user/delete does
 *   npm run users -- merge <fromUserId> <intoUserId>
 *                                        one person's two users made one: the first's identities,
 *                                        phone number, profile and avatar go to the second, and
 *                                        its sessions end (docs/identities.md, "Merging users")
 *   npm run users -- claim-unionids      the upgrade's pass: claims the unionid of every row
 *                                        from before identities (docs/deploy.md, "Upgrading")
 *   npm run users -- --env .local/dev-3000.env show …    against `npm run dev` on port 3000
 *
 * A deletion and the merge also need AVATAR_BUCKET (and S3_ENDPOINT locally) and USER_EVENTS
 * (where UserDeleted and UsersMerged go: eventbridge, or log).
 */
import { parseArgs } from 'node:util';
import { createDynamoClient } from '../lib/adapters/dynamodb';
import { DynamoUserRepository } from '../lib/adapters/dynamodb-users';
import { ConfigError, loadDynamoConfig, loadUnionidsTable, loadUsersTable } from '../lib/config';
import { AppError } from '../lib/errors';
import { composeMerge, composeOperator, composeSessionOperator } from '../lib/users/compose';
import { parseSuspension } from '../lib/users/suspension';
import { loadEnvFile } from '../local/env-file';
import { claimLegacyUnionids } from '../lib/users/upgrade';

const USAGE = `usage: npm run users -- [--env FILE] <command>
  show <userId | phone | openid>                 the user, its identities, status, sessions and latest logins
  suspend <userId> --reason "…" [--until ISO]    no sign-in until lifted or until the end time; its sessions end now
  unsuspend <userId>
  sessions <userId>                              the user's live sessions
  revoke <userId> [--session <id>]               end one session of the user, or every one
  revoke --all                                   end every session of every user (after a leak)
  export <userId>                                everything stored about the user, as JSON
  delete <userId>                                delete the account (a user who cannot sign in to ask)
  merge <fromUserId> <intoUserId>                one person's two users made one
  claim-unionids                                 the upgrade's pass (docs/deploy.md)`;

function fail(message: string, code = 2): never {
  console.error(`npm run users: ${message}`);
  process.exit(code);
}

type Options = { env?: string; help?: boolean; reason?: string; until?: string; session?: string; all?: boolean; user?: string };
let parsed: { values: Options; positionals: string[] };
try {
  parsed = parseArgs({
    options: {
      env: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      reason: { type: 'string' },
      until: { type: 'string' },
      session: { type: 'string' },
      all: { type: 'boolean' },
      // `npm run revoke -- --user <userId>`, as before revoke joined this tool.
      user: { type: 'string' },
    },
    allowPositionals: true,
  });
} catch (err) {
  fail(`${(err as Error).message}; ${USAGE}`);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const [command, ...args] = parsed.positionals;
const rest = command === 'revoke' && parsed.values.user ? [parsed.values.user, ...args] : args;
const ULID = /^[0-9A-Z]{26}$/;
const ONE_USER = new Set(['suspend', 'unsuspend', 'sessions', 'export', 'delete']);
const valid =
  (command === 'claim-unionids' && rest.length === 0) ||
  (command === 'merge' && rest.length === 2 && rest.every((id) => ULID.test(id))) ||
  (command === 'show' && rest.length === 1) ||
  (command === 'revoke' && ((parsed.values.all && rest.length === 0 && !parsed.values.session) || (!parsed.values.all && rest.length === 1 && ULID.test(rest[0]!)))) ||
  (ONE_USER.has(command ?? '') && rest.length === 1 && ULID.test(rest[0]!));
if (!valid) fail(command === 'merge' || command === 'revoke' || ONE_USER.has(command ?? '') ? `${command} takes userIds (26-character ULIDs)\n${USAGE}` : USAGE);
if (command === 'suspend' && !parsed.values.reason?.trim()) fail('suspend needs --reason "…" (kept for the operators, never told to the user)');
// The reason and the end time as the admin API takes them (lib/users/suspension.ts).
let suspension: { reason: string; until?: Date } | undefined;
if (command === 'suspend') {
  try {
    suspension = parseSuspension(parsed.values.reason, parsed.values.until);
  } catch (err) {
    fail(`${(err as Error).message.replace('The end time', '--until')}${parsed.values.until === undefined ? '' : ` (got ${parsed.values.until})`}`);
  }
}
const until = suspension?.until;
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

if (command === 'revoke') {
  // Redis only, so it works while DynamoDB is out of reach; --all is the emergency switch.
  const { store, operator } = configured(() => composeSessionOperator());
  const [target] = rest as [string];
  try {
    if (parsed.values.all) {
      console.log(`revoked ${await store.revokeEverything()} session(s) of all users`);
    } else {
      const { sessionsEnded } = await operator.revoke(target, parsed.values.session);
      console.log(parsed.values.session ? `ended session ${parsed.values.session} of user ${target}` : `revoked ${sessionsEnded} session(s) of user ${target}`);
    }
  } catch (err) {
    const code = err instanceof AppError ? err.code : '';
    if (code === 'SESSION_NOT_FOUND' || code === 'INVALID_REQUEST') fail((err as Error).message, 1);
    fail(`cannot reach Redis at ${process.env.UPSTASH_REDIS_REST_URL}: ${(err as Error).message}; it is safe to run again`, 1);
  }
  process.exit(0);
}

if (command !== 'merge' && command !== 'claim-unionids') {
  const { operator, logger } = configured(() => composeOperator());
  const [target] = rest as [string];
  try {
    if (command === 'show') {
      const user = await operator.show(target);
      if (!user) fail(`no user for ${target}`, 1);
      console.log(JSON.stringify(user, null, 2));
    } else if (command === 'suspend') {
      const { sessionsEnded } = await operator.suspend(target, suspension!);
      console.log(`suspended user ${target}${until ? ` until ${until.toISOString()}` : ''}: ${sessionsEnded} session(s) ended`);
    } else if (command === 'unsuspend') {
      await operator.unsuspend(target);
      console.log(`user ${target} may sign in again`);
    } else if (command === 'sessions') {
      console.log(JSON.stringify(await operator.sessions(target), null, 2));
    } else if (command === 'export') {
      console.log(JSON.stringify(await operator.exportUser(target), null, 2));
    } else {
      await operator.deleteUser(target, logger);
      console.log(`deleted user ${target}`);
    }
  } catch (err) {
    const code = err instanceof AppError ? err.code : '';
    fail(`${(err as Error).message}${code === 'NOT_FOUND' || code === 'INVALID_REQUEST' || code === 'SESSION_NOT_FOUND' ? '' : '; it is safe to run again'}`, 1);
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
