import { readFileSync } from 'node:fs';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { safeCopyOf, type SafeCopy } from '../../lib/adapters/dynamodb';
import { DynamoPhoneRepository } from '../../lib/adapters/dynamodb-phones';
import { DynamoUserRepository, type DynamoSend } from '../../lib/adapters/dynamodb-users';

/**
 * Which DynamoDB writes may be sent twice (lib/adapters/dynamodb.ts, `resendable`): every
 * write the two repositories send is captured from a fake client, on every path (each write
 * applied, each refused by its condition), and each one marked safe must prove its reason
 * from the request itself. Nothing here is a hand-kept list of writes.
 */

type Write = UpdateItemCommand | PutItemCommand | DeleteItemCommand;
interface Sent {
  command: Write;
  /** The adapter's line that sends it (the caller's, for the users adapter's update helper). */
  site: string;
  /** The adapter's method at that line (DynamoUserRepository.unbind). */
  method: string;
}

const ADAPTERS = ['lib/adapters/dynamodb-users.ts', 'lib/adapters/dynamodb-phones.ts'];
const OWNER = { userId: '01OWNER', openid: 'o-owner' };
const OTHER = { userId: '01OTHER', openid: 'o-other' };
const NUMBER = '+8613800138000';

/** A user row with everything a read or ReturnValues of these adapters looks at. */
const ROW: Record<string, AttributeValue> = {
  openid: { S: OWNER.openid },
  userId: { S: OWNER.userId },
  createdAt: { S: '2026-01-01T00:00:00.000Z' },
  lastLoginAt: { S: '2026-01-01T00:00:00.000Z' },
  loginCount: { N: '3' },
  lastLoginId: { S: 'L-login' },
  uploadWindow: { N: '0' },
  uploadCount: { N: '1' },
  replacedPhone: { S: '+8613900139000' },
  phone: { M: { e164: { S: '+8613900139000' } } },
};

/**
 * A client that records every write with the adapter line that sent it, and answers as
 * `policy` says: every write applied, every write refused, or the first applied and the
 * rest refused (the paths behind a first write).
 */
function recordingClient(sent: Sent[], policy: 'apply' | 'refuse' | 'first'): DynamoSend {
  let writes = 0;
  return {
    send: (async (command: { input: object }) => {
      if (command instanceof UpdateItemCommand || command instanceof PutItemCommand || command instanceof DeleteItemCommand) {
        sent.push({ command, ...siteOf(new Error().stack ?? '') });
        writes++;
        if (policy === 'refuse' || (policy === 'first' && writes > 1)) throw new ConditionalCheckFailedException({ message: 'refused', $metadata: {} });
        const input = command.input as { TableName?: string; Key?: Record<string, AttributeValue> };
        // A unionid's claim: held by the owner ('u-own') or by another user.
        if (input.TableName === 'unionids') {
          const holder = input.Key?.unionid?.S === 'u-own' ? OWNER : OTHER;
          return { Attributes: { unionid: input.Key!.unionid!, userId: { S: holder.userId }, home: { S: holder.openid } } };
        }
        // A new identity's row (its first login counted): the join's path.
        if (input.Key?.openid?.S === 'o-new') return { Attributes: { ...ROW, openid: { S: 'o-new' }, loginCount: { N: '1' } } };
        return { Attributes: ROW };
      }
      // Reads: the owner's row, or a claim held by the owner.
      const table = (command.input as { TableName?: string }).TableName;
      return table === 'phones'
        ? { Item: { phone: { S: NUMBER }, userId: { S: OWNER.userId }, openid: { S: OWNER.openid }, claimedAt: { N: '5' } }, Items: [] }
        : table === 'unionids'
          ? { Items: [{ unionid: { S: 'u-own' }, userId: { S: OWNER.userId } }] }
          : { Item: ROW, Items: [] };
    }) as DynamoSend['send'],
  };
}

/** The innermost adapter frame outside the adapters' write helpers (`update`, `remove`, `write`): `file:line`, and its method. */
function siteOf(stack: string): { site: string; method: string } {
  for (const line of stack.split('\n')) {
    const match = /at (\S+) \(.*\/(lib\/adapters\/dynamodb-(?:users|phones)\.ts):(\d+):\d+\)/.exec(line);
    if (match && !['DynamoUserRepository.update', 'DynamoUserRepository.remove', 'DynamoPhoneRepository.write'].includes(match[1]!)) return { site: `${match[2]}:${match[3]}`, method: match[1]! };
  }
  return { site: 'unknown', method: 'unknown' };
}

/** Every write site in the adapters' source: a send of a write command, or a call of a write helper. */
function writeSites(): string[] {
  return ADAPTERS.flatMap((file) => {
    const lines = readFileSync(file, 'utf8').split('\n');
    return lines.flatMap((line, i) => {
      const sendsWrite = /this\.client\.send\(/.test(line) && /new (UpdateItem|PutItem|DeleteItem)Command\(/.test(lines.slice(i, i + 4).join('\n'));
      return sendsWrite || /this\.(update|write|remove)\(/.test(line) ? [`${file}:${i + 1}`] : [];
    });
  });
}

/** Every public method that writes, with arguments that reach its writes. */
async function everyWrite(client: () => DynamoSend): Promise<void> {
  const users = () => new DynamoUserRepository(client(), 'users', 'unionids');
  const phones = () => new DynamoPhoneRepository(client(), { phones: 'phones', users: 'users' });
  const binding = { countryCode: '86', purePhoneNumber: '13800138000', phoneNumber: '13800138000', verifiedAt: '2026-01-01T00:00:00.000Z' };
  const calls: (() => Promise<unknown>)[] = [
    () => users().recordLogin({ openid: OWNER.openid, newUserId: OWNER.userId, loginId: 'L-login', now: new Date() }),
    // The identity paths (docs/identities.md): the link, the conflict's record, the join.
    () => users().recordLogin({ openid: OWNER.openid, unionid: 'u-own', newUserId: OWNER.userId, loginId: 'L-login', now: new Date() }),
    () => users().recordLogin({ openid: OWNER.openid, unionid: 'u-other', newUserId: OWNER.userId, loginId: 'L-login', now: new Date() }),
    () => users().recordLogin({ openid: 'o-new', unionid: 'u-other', newUserId: OWNER.userId, loginId: 'L-login', now: new Date() }),
    () => users().undoLogin(OWNER.openid, 'L-login', true),
    () => users().undoLogin(OWNER.openid, 'L-login', false),
    () => users().lease(OWNER, Date.now() + 5000, NUMBER),
    () => users().lease(OWNER, Date.now() + 5000),
    () => users().endLease(OWNER, 'token', NUMBER),
    () => users().leaseUpload(OWNER, Date.now() + 5000, 3_600_000),
    () => users().markDeleting(OWNER, new Date()),
    () => users().updateProfile(OWNER, { nickname: 'Nick' }, 'lease-token'),
    () => users().tombstone(OWNER, new Date()),
    () => users().deleteTombstone(OWNER),
    () => users().clearProfile(OWNER),
    // A deletion across identities (docs/identities.md), and a login's drop of a deleted user's identity.
    () => users().releaseUnionids(OWNER.userId),
    () => users().dropIdentity(OWNER),
    // The operator's merge (lib/users/merge.ts).
    () => users().moveIdentity(OWNER, { userId: OTHER.userId, home: OTHER.openid, unionid: 'u-own' }),
    () => users().moveHome(OWNER, { userId: OTHER.userId, home: OTHER.openid, unionid: 'u-own' }),
    () => users().moveUnionid('u-own', OWNER.userId, { userId: OTHER.userId, home: OTHER.openid }),
    () => users().adoptUnionid(OWNER, 'u-own'),
    // The operator's suspension (lib/users/suspension.ts).
    () => users().recordSuspension(OWNER, { reason: 'abuse', at: '2026-12-05T00:00:00.000Z', until: '2026-12-06T00:00:00.000Z' }),
    () => users().recordSuspension(OWNER, { reason: 'abuse', at: '2026-12-05T00:00:00.000Z' }),
    () => users().clearSuspension(OWNER),
    () => phones().claim(NUMBER, OWNER, 10),
    () => phones().takeOver(NUMBER, { holder: OTHER, claimedAt: 5 }, OWNER, 10),
    () => phones().unbind(OWNER, NUMBER),
    () => phones().bind(OWNER, NUMBER, binding, 'binding-lease'),
    () => phones().release(NUMBER, OWNER),
  ];
  // Each call over a fresh client (its own count of writes). A refused write often ends the
  // method with an error (NOT_FOUND, a 503): only the writes count here.
  for (const call of calls) await call().catch(() => undefined);
}

async function captured(): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (const policy of ['apply', 'refuse', 'first'] as const) await everyWrite(() => recordingClient(sent, policy));
  return sent;
}

// --- What an UpdateExpression, a ConditionExpression and an item say, read as DynamoDB reads them.

interface Write$ {
  names: Record<string, string>;
  values: Record<string, AttributeValue>;
}

/** Top-level splits of an expression on a separator (outside parentheses). */
function splitTop(text: string, separator: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (depth === 0) {
      const match = separator.exec(text.slice(i));
      if (match?.index === 0) {
        parts.push(text.slice(start, i).trim());
        i += match[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter(Boolean);
}

const path = (text: string, { names }: Write$) => text.trim().split('.').map((part) => names[part] ?? part).join('.');

/** An UpdateExpression's clauses: SET path = expr, REMOVE path, ADD path :v, DELETE path :v. */
function clausesOf(expression: string, w: Write$) {
  const set: [string, string][] = [];
  const remove: string[] = [];
  const add: [string, string][] = [];
  for (const section of expression.split(/\b(?=SET |REMOVE |ADD |DELETE )/)) {
    const [keyword, ...rest] = section.trim().split(' ');
    for (const item of splitTop(rest.join(' '), /^,/)) {
      if (keyword === 'SET') {
        const [target, expr] = item.split(/=(.*)/s) as [string, string];
        set.push([path(target, w), expr.trim()]);
      } else if (keyword === 'REMOVE') remove.push(path(item, w));
      else if (keyword === 'ADD') {
        const [target, value] = item.split(/\s+/) as [string, string];
        add.push([path(target, w), value]);
      }
    }
  }
  return { set, remove, add };
}

/** A path's value after the write (undefined: gone; 'unknown': not told by the write alone). */
function after(command: Write, target: string, w: Write$): AttributeValue | undefined | 'unknown' {
  if (command instanceof DeleteItemCommand) return undefined;
  if (command instanceof PutItemCommand) {
    let value: AttributeValue | undefined = { M: command.input.Item! };
    for (const part of target.split('.')) value = value?.M?.[part];
    return value;
  }
  const { set, remove } = clausesOf(command.input.UpdateExpression ?? '', w);
  for (const [name, expr] of set) {
    if (!/^:\w+$/.test(expr)) continue;
    if (name === target) return w.values[expr];
    if (target.startsWith(`${name}.`)) {
      let value: AttributeValue | undefined = w.values[expr];
      for (const part of target.slice(name.length + 1).split('.')) value = value?.M?.[part];
      return value;
    }
  }
  if (remove.some((name) => name === target || target.startsWith(`${name}.`))) return undefined;
  return 'unknown';
}

const same = (a: AttributeValue | undefined, b: AttributeValue | undefined) => JSON.stringify(a) === JSON.stringify(b);

/** The expression without parentheses around the whole of it (not `(a) OR (b)`'s first and last). */
function unwrapped(text: string): string {
  if (!text.startsWith('(') || !text.endsWith(')')) return text;
  let depth = 0;
  for (let i = 0; i < text.length - 1; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    if (depth === 0) return text; // the first parenthesis closes before the end
  }
  return unwrapped(text.slice(1, -1).trim());
}

/**
 * Whether the row `command` leaves passes its own condition: false when some conjunct surely
 * fails on it (`a = :v`, `a <> :v`, attribute_exists/not_exists, a parenthesised OR of those),
 * true or 'unknown' otherwise. A write refused by a copy of itself reports a refusal its caller
 * may act on: for an idempotent write, that is a second effect unless the caller takes a
 * refusal as "already done".
 */
function leavesItsConditionTrue(command: Write, w: Write$): boolean | 'unknown' {
  const test = (text: string): boolean | 'unknown' => {
    const bare = unwrapped(text.trim());
    const any = splitTop(bare, /^ OR /);
    if (any.length > 1) {
      const results = any.map(test);
      return results.includes(true) ? true : results.includes('unknown') ? 'unknown' : false;
    }
    const all = splitTop(bare, /^ AND /);
    if (all.length > 1) {
      const results = all.map(test);
      return results.includes(false) ? false : results.includes('unknown') ? 'unknown' : true;
    }
    const exists = /^attribute_(not_)?exists\(([\w#.]+)\)$/.exec(bare);
    if (exists) {
      const left = after(command, path(exists[2]!, w), w);
      return left === 'unknown' ? 'unknown' : (left === undefined) === Boolean(exists[1]);
    }
    const compare = /^([\w#.]+) (=|<>) (:\w+)$/.exec(bare);
    if (!compare) return 'unknown';
    const left = after(command, path(compare[1]!, w), w);
    if (left === 'unknown') return 'unknown';
    return compare[2] === '=' ? same(left, w.values[compare[3]!]) : !same(left, w.values[compare[3]!]);
  };
  return command.input.ConditionExpression ? test(command.input.ConditionExpression) : true;
}

/**
 * Idempotent writes whose copy is refused by the row the first copy left, and whose callers
 * take that refusal as "already done": the phone number's REMOVEs, where a refusal means the
 * number is gone from the row already ("taken, or gone already"), and a merge's moves, where it
 * means the row or the claim is the target's already.
 */
const REFUSAL_MEANS_DONE = new Set([
  'DynamoPhoneRepository.unbind',
  'DynamoPhoneRepository.release',
  // A merge's moves: refused, the row (or the claim) is the target's already, or never was the source's.
  'DynamoUserRepository.moveIdentity',
  'DynamoUserRepository.moveHome',
  'DynamoUserRepository.moveUnionid',
]);

/**
 * Why `command` is not safe to send twice for the reason `why`, or undefined when it is.
 *
 * own-id: one conjunct of the condition compares an attribute with one of the write's own
 * values (its id), and the row this write leaves fails that comparison, so a second copy is
 * refused. idempotent: a delete, a put, or an update whose every SET gives a value (or keeps
 * one with if_not_exists) and whose every ADD adds set members, never a number.
 */
function unsafeBecause(command: Write, why: SafeCopy, method?: string): string | undefined {
  const w: Write$ = { names: command.input.ExpressionAttributeNames ?? {}, values: command.input.ExpressionAttributeValues ?? {} };
  if (why === 'own-id') {
    for (const conjunct of splitTop(command.input.ConditionExpression ?? '', /^ AND /)) {
      const bare = unwrapped(conjunct);
      const match = /^(?:attribute_not_exists\(([\w#.]+)\) OR )?([\w#.]+) (=|<>) (:\w+)$/.exec(bare);
      // attribute_not_exists(a) OR a.b <> :v: refused all the same when the write leaves a.b = :v.
      if (!match || (match[1] !== undefined && match[1] !== match[2] && !match[2]!.startsWith(`${match[1]}.`))) continue;
      const [, , target, op, value] = match as unknown as [string, string, string, '=' | '<>', string];
      const left = after(command, path(target, w), w);
      if (left === 'unknown') continue;
      if (op === '<>' ? same(left, w.values[value]) : !same(left, w.values[value])) return undefined;
    }
    return 'no conjunct of its condition refuses the row it leaves';
  }
  if (!(command instanceof UpdateItemCommand)) return undefined;
  if (leavesItsConditionTrue(command, w) === false && !(method && REFUSAL_MEANS_DONE.has(method))) {
    return 'a copy is refused by the row the first copy left, and its caller may take the refusal as something else: accept its own effect in the condition';
  }
  const { set, add } = clausesOf(command.input.UpdateExpression ?? '', w);
  for (const [name, value] of add) {
    const given = w.values[value];
    if (!given?.SS && !given?.NS && !given?.BS) return `ADD ${name} adds a number`;
  }
  const written = new Set(set.map(([name]) => name));
  for (const [name, expr] of set) {
    if (/^:\w+$/.test(expr) || /^if_not_exists\([\w#.]+, *:\w+\)$/.test(expr)) continue;
    // A copy of another attribute is the same again, unless this write changes that one too.
    if (/^[\w#.]+$/.test(expr) && !written.has(path(expr, w))) continue;
    return `SET ${name} = ${expr} is not the same value twice`;
  }
  return undefined;
}

describe('DynamoDB writes sent twice (lib/adapters/dynamodb.ts resendable)', () => {
  it('captures every write site of the users and phones adapters', async () => {
    const sites = new Set((await captured()).map(({ site }) => site));
    const expected = writeSites();
    expect(expected.length).toBeGreaterThan(15);
    expect([...sites].sort()).toEqual([...expected].sort());
  });

  it('proves each write marked safe from the request it sends: own-id refuses its own copy, idempotent repeats its effect', async () => {
    const failures: string[] = [];
    for (const { command, site, method } of await captured()) {
      const why = safeCopyOf(command);
      const reason = why && unsafeBecause(command, why, method);
      if (reason) failures.push(`${site} marked ${why}: ${reason}`);
    }
    expect(failures).toEqual([]);
  });

  it('sends the upload counter once: a copy would count the upload twice', async () => {
    const counters = (await captured()).filter(({ command }) => command instanceof UpdateItemCommand && /ADD .*uploadCount/.test(command.input.UpdateExpression ?? ''));
    expect(counters.length).toBeGreaterThan(1);
    for (const { command } of counters) {
      expect(safeCopyOf(command)).toBeUndefined();
      expect(unsafeBecause(command, 'idempotent')).toMatch(/ADD uploadCount adds a number/);
    }
  });

  it('marks the login write own-id, and would refuse it as idempotent (it counts the login)', async () => {
    const [login] = (await captured()).filter(({ command }) => command instanceof UpdateItemCommand && command.input.UpdateExpression?.includes('ADD loginCount :one'));
    expect(safeCopyOf(login!.command)).toBe('own-id');
    // Refused twice over: its own copy fails its condition, and it adds to a counter.
    expect(unsafeBecause(login!.command, 'idempotent')).toMatch(/a copy is refused by the row the first copy left|ADD loginCount adds a number/);
  });

  describe('the proof itself can fail', () => {
    const update = (input: Partial<UpdateItemCommand['input']>) => new UpdateItemCommand({ TableName: 't', Key: { k: { S: 'k' } }, ...input });

    it('refuses a counter, an arithmetic SET and a copy of an attribute the write changes as idempotent', () => {
      expect(unsafeBecause(update({ UpdateExpression: 'ADD n :one', ExpressionAttributeValues: { ':one': { N: '1' } } }), 'idempotent')).toBeDefined();
      expect(unsafeBecause(update({ UpdateExpression: 'SET n = n + :one', ExpressionAttributeValues: { ':one': { N: '1' } } }), 'idempotent')).toBeDefined();
      expect(unsafeBecause(update({ UpdateExpression: 'SET a = b, b = :x', ExpressionAttributeValues: { ':x': { S: 'x' } } }), 'idempotent')).toBeDefined();
      expect(unsafeBecause(update({ UpdateExpression: 'SET a = :x ADD s :m', ExpressionAttributeValues: { ':x': { S: 'x' }, ':m': { SS: ['m'] } } }), 'idempotent')).toBeUndefined();
    });

    it('refuses an idempotent write that a copy of itself would be refused by (the upload window before it named its starter)', () => {
      const values = { ':userId': { S: 'u' }, ':window': { N: '7' }, ':one': { N: '1' }, ':seen': { N: '6' }, ':by': { S: 'lease-1' } };
      const before = update({ UpdateExpression: 'SET uploadWindow = :window, uploadCount = :one', ConditionExpression: 'userId = :userId AND uploadWindow = :seen', ExpressionAttributeValues: values });
      expect(unsafeBecause(before, 'idempotent', 'DynamoUserRepository.leaseUpload')).toMatch(/a copy is refused by the row the first copy left/);
      const now = update({
        UpdateExpression: 'SET uploadWindow = :window, uploadCount = :one, uploadWindowBy = :by',
        ConditionExpression: 'userId = :userId AND (uploadWindow = :seen OR (uploadWindow = :window AND uploadWindowBy = :by))',
        ExpressionAttributeValues: values,
      });
      expect(unsafeBecause(now, 'idempotent', 'DynamoUserRepository.leaseUpload')).toBeUndefined();
    });

    it('refuses own-id for a condition the written row still passes', () => {
      const values = { ':id': { S: 'L1' }, ':one': { N: '1' }, ':userId': { S: 'u' } };
      // Conditioned on the user, not on this write's id: a copy passes it and counts again.
      expect(unsafeBecause(update({ UpdateExpression: 'SET lastId = :id ADD n :one', ConditionExpression: 'userId = :userId', ExpressionAttributeValues: values }), 'own-id')).toBeDefined();
      // Names its id but does not stamp it: a copy passes it too.
      expect(unsafeBecause(update({ UpdateExpression: 'ADD n :one', ConditionExpression: 'lastId <> :id', ExpressionAttributeValues: values }), 'own-id')).toBeDefined();
      expect(unsafeBecause(update({ UpdateExpression: 'SET lastId = :id ADD n :one', ConditionExpression: 'userId = :userId AND (attribute_not_exists(lastId) OR lastId <> :id)', ExpressionAttributeValues: values }), 'own-id')).toBeUndefined();
    });
  });
});
