import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type UpdateItemCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { AppError, clientFault } from '../errors';
import { resendable, type SafeCopy } from './dynamodb';
import { recordedJson, type Recording } from './http';
import {
  AccountBeingDeleted,
  type AccountRow,
  type AccountRows,
  type DeletionMark,
  type Identity,
  type ProfileChange,
  type ProfileWriter,
  type RecordedLogin,
  type RecordLogin,
  type User,
  type UserReader,
  type UserRepository,
  type WriteLeases,
  accountBeingDeleted,
  DELETION_MARK_MS,
  latestLease,
  leaseToken,
} from '../users/ports';


/** The attributes a profile is read for: nothing else a row holds is ever exposed. */
const USER_ATTRIBUTES = ['openid', 'userId', 'home', 'appid', 'kind', 'unionid', 'createdAt', 'lastLoginAt', 'loginCount', 'phone', 'nickname', 'avatarKey'];
/** What a login reads back: which login wrote the row last (the phone is not the login's business). */
const LOGIN_ATTRIBUTES = ['openid', 'userId', 'home', 'appid', 'unionid', 'linkedUnionid', 'unionConflict', 'conflictWith', 'createdAt', 'lastLoginAt', 'loginCount', 'lastLoginId', 'deletedAt'];

/** The slice of DynamoDBClient we use: easy to fake, and the real client fits it. */
export type DynamoSend = Pick<DynamoDBClient, 'send'>;

/**
 * Users live in one table keyed by `openid`. A login is a single UpdateItem:
 * `if_not_exists` keeps the first userId/createdAt forever, so concurrent first logins of
 * one openid cannot create two users, and the count it leaves tells exactly one of them that
 * this is the user's first login. No read-then-write.
 *
 * Every login write carries the login's id, so it is idempotent: the SDK retries it (a
 * timeout, a reset, a throttle), and a second copy of a write that already landed fails its
 * condition instead of counting the login twice; the row then says whether it was ours.
 * Besides the user attributes, a row holds `lastLoginId` and `previousLoginId` (the last two
 * logins that wrote it), `previousLoginAt` (what an undo restores) and `undoneLoginId` (the
 * fence of the last undone login). Only the attributes
 * named here are touched: anything else a row holds is left alone.
 */
/**
 * What DynamoDB answers recordLogin's write, for a rehearsal (lib/login/prime.ts): the row the
 * login leaves, echoing the request's own ids (recordLogin checks them); a new user's first,
 * then the same user returning. The login's write is the UpdateItem that carries :newUserId.
 */
export function recordedLoginWrite(): Recording {
  let logins = 0;
  return ({ headers, body }) => {
    if (headers['x-amz-target'] !== 'DynamoDB_20120810.UpdateItem') return undefined;
    const { Key, ExpressionAttributeValues: v } = JSON.parse(body) as { Key: Record<string, AttributeValue>; ExpressionAttributeValues?: Record<string, AttributeValue> };
    if (!v?.[':newUserId'] || !v[':loginId'] || !v[':now']) return undefined;
    logins++;
    return recordedJson(200, {
      Attributes: {
        openid: Key.openid,
        userId: v[':newUserId'],
        createdAt: v[':now'],
        lastLoginAt: v[':now'],
        previousLoginAt: v[':now'],
        lastLoginId: v[':loginId'],
        previousLoginId: { S: '-' },
        loginCount: { N: String(logins) },
      },
    });
  };
}

export class DynamoUserRepository implements UserRepository, UserReader, ProfileWriter, AccountRows, WriteLeases {
  /**
   * @param unionTable The unionids table (one claim per unionid, keyed by it): needed by the
   *   login and by what moves or deletes identities, not by the routes that read a profile.
   */
  constructor(
    private readonly client: DynamoSend,
    private readonly tableName: string,
    private readonly unionTable?: string,
  ) {}

  /**
   * A login through an identity (AppID, openid): its row is written first, in one request,
   * and that is all a login through an identity seen before costs. A unionid the row is not
   * linked to yet takes two more (docs/identities.md), in this order, each safe to repeat, so
   * that any prefix of them is a state the next login finishes:
   *
   * 1. The identity's row: counted, and created if new, as the home row of a new user (so no
   *    row ever lacks a user, and a user's home row exists before anything points at it).
   * 2. The unionid's claim (the unionids table, keyed by the unionid): taken for the row's user
   *    if no user holds it, and in any case answering who does, with that user's home.
   * 3. Then, by what the claim answered:
   *    - the row's user holds it: the row is linked (a new user's first identity, or the
   *      backfill of a user from before the open-platform binding);
   *    - another user holds it and the row's user never logged in before (this is the row's
   *      first counted login: a new identity): the row joins the holder;
   *    - another user holds it, and the row's user is one of its own: nothing is merged. The
   *      pair is kept on the row (`unionConflict`, `conflictWith`) for the operator, and the
   *      login signs in the row's user. The next logins read it there, in the one request.
   */
  async recordLogin({ openid, appid, kind, unionid, newUserId, loginId, now }: RecordLogin): Promise<RecordedLogin> {
    const row = await this.writeLogin({ openid, appid, kind, newUserId, loginId, now });
    return unionid ? this.settleUnionid(row, unionid, now) : { user: toUser(row) };
  }

  /**
   * Steps 2 and 3 of a login for a row as it stands: nothing when the row is linked to the
   * unionid already (`linkedUnionid`). A row from before identities holds the unionid WeChat
   * sent but no claim of it: its next login claims it, or the upgrade's `npm run users --
   * claim-unionids` does (scripts/users.ts). A row with a conflict recorded asks the claim at
   * each login (two requests, until the operator merges): the holder may be gone since (its
   * account deleted), and then this user takes the unionid.
   */
  async settleUnionid(row: Record<string, AttributeValue>, unionid: string, now: Date): Promise<RecordedLogin> {
    const user = toUser(row);
    const { openid } = user;
    if (row.linkedUnionid?.S === unionid) return { user };
    if (!this.unionTable) throw new AppError('INTERNAL', 'a login with a unionid needs the unionids table (UNIONIDS_TABLE)');

    // 2. The claim: this user's if no one's, else the holder's (and the holder's home) as it stands.
    const linkedToAnother = row.linkedUnionid?.S !== undefined || (user.unionid !== undefined && user.unionid !== unionid);
    const holder = linkedToAnother ? await this.unionHolder(unionid) : await this.claimUnionid(unionid, { userId: user.userId, home: user.home ?? user.openid }, now);
    const owner = { userId: user.userId, openid };
    if (holder?.userId === user.userId) {
      // 3a. The user holds it: linked, on the row and, for an identity that is not the home, on the home.
      await this.link(owner, unionid);
      if (user.home) await this.link({ userId: user.userId, openid: user.home }, unionid, true);
      return { user: { ...user, unionid } };
    }
    if (holder && !linkedToAnother && !user.unionid && !user.home && user.loginCount === 1) {
      // 3b. A new identity: its row's user never had a login counted, so it holds nothing (a
      //     session, a phone, a profile); the row joins the holder. Refused: another login of
      //     the row was counted in the meantime, and the row's user is one of its own.
      const joined = await this.update('idempotent', {
        Key: { openid: { S: openid } },
        UpdateExpression: `SET userId = :holder, unionid = :unionid, linkedUnionid = :unionid${holder.home === openid ? '' : ', home = :home'} REMOVE unionConflict, conflictWith`,
        ConditionExpression: '(userId = :mine AND loginCount = :one) OR (userId = :holder AND unionid = :unionid)',
        ExpressionAttributeValues: {
          ':holder': { S: holder.userId },
          ':unionid': { S: unionid },
          ':mine': { S: user.userId },
          ':one': { N: '1' },
          ...(holder.home === openid ? {} : { ':home': { S: holder.home } }),
        },
        ReturnValues: 'ALL_NEW',
      });
      if (joined) return { user: toUser(joined.item) };
    }
    // 3c. Another user's (or this identity is linked to another unionid): recorded, not merged.
    //     Told once: a login that finds the same pair recorded writes and reports nothing.
    const conflictWith = holder?.userId ?? '-';
    if (row.unionConflict?.S === unionid && row.conflictWith?.S === conflictWith) return { user, conflict: { unionid, holder: conflictWith, known: true } };
    await this.update('idempotent', {
      Key: { openid: { S: openid } },
      UpdateExpression: 'SET unionConflict = :unionid, conflictWith = :holder',
      ConditionExpression: 'userId = :userId',
      ExpressionAttributeValues: { ':unionid': { S: unionid }, ':holder': { S: conflictWith }, ':userId': { S: user.userId } },
    });
    return { user, conflict: { unionid, holder: conflictWith } };
  }

  /** Step 1 of a login: the identity's row, counted and tagged with the login, created if new. */
  private async writeLogin({ openid, appid, kind, newUserId, loginId, now }: Omit<RecordLogin, 'unionid'>): Promise<Record<string, AttributeValue>> {
    const at = now.toISOString();
    const values: Record<string, AttributeValue> = {
      ':newUserId': { S: newUserId },
      ':now': { S: at },
      ':one': { N: '1' },
      ':loginId': { S: loginId },
      ':none': { S: '-' },
    };
    let set =
      'userId = if_not_exists(userId, :newUserId), createdAt = if_not_exists(createdAt, :now), ' +
      'previousLoginAt = if_not_exists(lastLoginAt, :now), lastLoginAt = :now, ' +
      'previousLoginId = if_not_exists(lastLoginId, :none), lastLoginId = :loginId';
    // The app an identity is of: its first login's (a row from before several apps were
    // served is the default app's, and its next login says so).
    if (appid) {
      set += ', appid = if_not_exists(appid, :appid)';
      values[':appid'] = { S: appid };
    }
    if (kind) {
      set += ', kind = if_not_exists(kind, :kind)';
      values[':kind'] = { S: kind };
    }

    // A second try only when the row was deleted between the write and its read-back (an
    // account deletion finished in that moment): the write was refused, and the login now
    // starts the WeChat user's new account.
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.client.send(
          // own-id: a copy finds lastLoginId = :loginId, the mark this very write leaves.
          resendable(new UpdateItemCommand({
            TableName: this.tableName,
            Key: { openid: { S: openid } },
            UpdateExpression: `SET ${set} ADD loginCount :one`,
            // Not this login again (a retried copy of a write that landed), and not a login
            // that was already undone (a copy arriving after its request gave up).
            // ...and not a row whose account is being deleted (lib/account/): that one must be
            // finished first, and this login becomes a new user.
            ConditionExpression:
              '(attribute_not_exists(lastLoginId) OR lastLoginId <> :loginId) AND (attribute_not_exists(undoneLoginId) OR undoneLoginId <> :loginId) AND attribute_not_exists(deletedAt)',
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
          }), 'own-id'),
        );
        return result.Attributes ?? {};
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw storeUnavailable(err);
        // An earlier copy of this write landed and its answer was lost: read what it left.
        const row = await this.readForLogin(openid);
        if (!row && attempt === 0) continue;
        if (row?.deletedAt?.S && row.userId?.S) throw new AccountBeingDeleted(row.userId.S);
        if (row?.lastLoginId?.S !== loginId) {
          throw new AppError('SERVICE_UNAVAILABLE', 'login write was overtaken before it could be confirmed', { details: { store: 'dynamodb' } });
        }
        return row;
      }
    }
  }

  /**
   * Step 2: the unionid's claim, taken for `user` if no one holds it, and who holds it (with its
   * home) as it stands. Only if_not_exists: a copy of it sets nothing new.
   */
  private async claimUnionid(unionid: string, user: { userId: string; home: string }, now: Date): Promise<{ userId: string; home: string }> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      ({ Attributes: item } = await this.client.send(
        resendable(
          new UpdateItemCommand({
            TableName: this.unionTable,
            Key: { unionid: { S: unionid } },
            UpdateExpression: 'SET userId = if_not_exists(userId, :userId), home = if_not_exists(home, :home), claimedAt = if_not_exists(claimedAt, :now)',
            ExpressionAttributeValues: { ':userId': { S: user.userId }, ':home': { S: user.home }, ':now': { S: now.toISOString() } },
            ReturnValues: 'ALL_NEW',
          }),
          'idempotent',
        ),
      ));
    } catch (err) {
      throw storeUnavailable(err);
    }
    const userId = item?.userId?.S;
    const home = item?.home?.S;
    if (!userId || !home) throw new AppError('INTERNAL', 'unionid claim is missing attributes');
    return { userId, home };
  }

  /** Who holds a unionid (consistent read), or undefined when no one does. */
  private async unionHolder(unionid: string): Promise<{ userId: string; home: string } | undefined> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      ({ Item: item } = await this.client.send(new GetItemCommand({ TableName: this.unionTable, Key: { unionid: { S: unionid } }, ConsistentRead: true })));
    } catch (err) {
      throw storeUnavailable(err);
    }
    const userId = item?.userId?.S;
    const home = item?.home?.S;
    return userId && home ? { userId, home } : undefined;
  }

  /** Links a row of the user to the unionid the user holds; `keep`: not over one it has. */
  private async link(owner: { userId: string; openid: string }, unionid: string, keep = false): Promise<void> {
    await this.update('idempotent', {
      Key: { openid: { S: owner.openid } },
      UpdateExpression: `SET unionid = ${keep ? 'if_not_exists(unionid, :unionid)' : ':unionid, linkedUnionid = :unionid'} REMOVE unionConflict, conflictWith`,
      ConditionExpression: 'userId = :userId',
      ExpressionAttributeValues: { ':unionid': { S: unionid }, ':userId': { S: owner.userId } },
    });
  }

  async undoLogin(openid: string, loginId: string, landed: boolean): Promise<void> {
    const Key = { openid: { S: openid } };
    // 1. The fence: from now on no copy of that login's write can land (its condition refuses
    //    undoneLoginId = loginId). Safe to send twice. On a live row only: a tombstone refuses
    //    every login write already, and a row that is gone must stay gone (a deletion removed it).
    for (let attempt = 0; ; attempt++) {
      const fenced = await this.update('idempotent', {
        Key,
        UpdateExpression: 'SET undoneLoginId = :loginId',
        ConditionExpression: 'attribute_exists(userId) AND attribute_not_exists(deletedAt)',
        ExpressionAttributeValues: { ':loginId': { S: loginId } },
      });
      if (fenced) break;
      // No live row. If the write's fate is unknown it may still be on its way and would make a
      // user row that no session names: fence it with a row of its own that holds nothing but
      // the fence, and that DynamoDB's TTL removes within days (like a tombstone). If a row with
      // a user appeared meanwhile (the write itself, landing late), fence that one instead.
      if (landed || attempt >= 2) return;
      const fenceRow = await this.update('idempotent', {
        Key,
        UpdateExpression: 'SET undoneLoginId = :loginId, purgeAt = if_not_exists(purgeAt, :purgeAt)',
        ConditionExpression: 'attribute_not_exists(userId)',
        ExpressionAttributeValues: { ':loginId': { S: loginId }, ':purgeAt': { N: String(Math.floor(Date.now() / 1000) + 86_400) } },
      });
      if (fenceRow) return;
    }
    // 2. The revert, if the write did land and no later login has written since. It clears
    //    lastLoginId, so a second copy of the revert finds nothing to do.
    // own-id: the revert removes lastLoginId, which its condition requires to be this login's.
    const reverted = await this.update('own-id', {
      Key,
      UpdateExpression: 'SET lastLoginAt = previousLoginAt REMOVE lastLoginId ADD loginCount :minusOne',
      ConditionExpression: 'lastLoginId = :loginId',
      ExpressionAttributeValues: { ':loginId': { S: loginId }, ':minusOne': { N: '-1' } },
    });
    if (reverted) return;
    // 3. Or it landed and one other login of this user wrote the row after it (another device,
    //    in the moment between): take back its count only; lastLoginAt is the later login's.
    //    Clearing previousLoginId makes a second copy of this a no-op too. Refused: it never
    //    landed, or was taken back already.
    await this.update('own-id', {
      Key,
      UpdateExpression: 'SET previousLoginId = :none ADD loginCount :minusOne',
      ConditionExpression: 'previousLoginId = :loginId',
      ExpressionAttributeValues: { ':loginId': { S: loginId }, ':none': { S: '-' }, ':minusOne': { N: '-1' } },
    });
  }

  async lease(owner: { userId: string; openid: string }, until: number, phone?: string): Promise<string> {
    // Only set members are added: a copy adds nothing more.
    return (await this.takeLease(owner, until, phone ? { leasedPhones: { SS: [phone] } } : {}, {}, 'idempotent')).token;
  }

  async endLease(owner: { userId: string; openid: string }, token: string, phone?: string): Promise<void> {
    await this.update('idempotent', {
      Key: { openid: { S: owner.openid } },
      UpdateExpression: `DELETE leases :token${phone ? ', leasedPhones :phone' : ''}`,
      // Not a tombstone: it holds nothing of the leases any more.
      ConditionExpression: 'userId = :userId AND attribute_not_exists(deletedAt)',
      ExpressionAttributeValues: { ':userId': { S: owner.userId }, ':token': { SS: [token] }, ...(phone ? { ':phone': { SS: [phone] } } : {}) },
    });
  }

  async leaseUpload(owner: { userId: string; openid: string }, until: number, windowMs: number): Promise<{ token: string; uploads: number }> {
    const window = { N: String(Math.floor(Date.now() / windowMs)) };
    // The window the count belongs to is set the first time only: a count from an older window
    // is started afresh below (once per window), so the common upload is one write.
    // Sent once: the upload count is a counter, which a second copy would count twice.
    const { token, item } = await this.takeLease(owner, until, { uploadCount: { N: '1' } }, { uploadWindow: window }, 'once');
    if (item?.uploadWindow?.N === window.N) return { token, uploads: Number(item?.uploadCount?.N ?? 1) };
    const Key = { openid: { S: owner.openid } };
    // The window is started by this lease's token (uploadWindowBy): a copy of this write, whose
    // first copy landed, finds its own start and sets the same values again, rather than being
    // refused and counting this upload a second time below.
    const started = await this.update('idempotent', {
      Key,
      UpdateExpression: 'SET uploadWindow = :window, uploadCount = :one, uploadWindowBy = :by',
      ConditionExpression: 'userId = :userId AND (uploadWindow = :seen OR (uploadWindow = :window AND uploadWindowBy = :by))',
      ExpressionAttributeValues: { ':userId': { S: owner.userId }, ':window': window, ':one': { N: '1' }, ':seen': item?.uploadWindow ?? { N: '-1' }, ':by': { S: token } },
    });
    if (started) return { token, uploads: 1 };
    // Another upload started this window first: this one counts in it, as one more.
    const counted = await this.update('once', {
      Key,
      UpdateExpression: 'ADD uploadCount :one',
      ConditionExpression: 'userId = :userId AND uploadWindow = :window',
      ExpressionAttributeValues: { ':userId': { S: owner.userId }, ':window': window, ':one': { N: '1' } },
      ReturnValues: 'UPDATED_NEW',
    });
    return { token, uploads: Number(counted?.item?.uploadCount?.N ?? 1) };
  }

  /** The lease's write: its token added, with `add` (sets or counters) and `setOnce` (if not there yet) in the same write. */
  private async takeLease(
    owner: { userId: string; openid: string },
    until: number,
    add: Record<string, AttributeValue>,
    setOnce: Record<string, AttributeValue>,
    resend: SafeCopy | 'once',
  ): Promise<{ token: string; item: Record<string, AttributeValue> | undefined }> {
    const token = leaseToken(until);
    const values: Record<string, AttributeValue> = {
      ':userId': { S: owner.userId },
      ':token': { SS: [token] },
      ':staleBefore': { N: String(Date.now() - DELETION_MARK_MS) },
    };
    for (const [name, value] of Object.entries({ ...add, ...setOnce })) values[`:${name}`] = value;
    const adds = ['leases :token', ...Object.keys(add).map((name) => `${name} :${name}`)].join(', ');
    const sets = Object.keys(setOnce).map((name) => `${name} = if_not_exists(${name}, :${name})`).join(', ');
    const taken = await this.update(resend, {
      Key: { openid: { S: owner.openid } },
      // A set of tokens, one per writer: each writer's last write deletes its own, so two
      // writers at once never end each other's lease. The numbers add up the same way.
      UpdateExpression: `${sets ? `SET ${sets} ` : ''}ADD ${adds}`,
      ReturnValues: Object.keys(setOnce).length > 0 ? 'UPDATED_NEW' : 'NONE',
      // This user's live row, and no deletion begun (a mark older than any deletion can run is
      // one that died: it blocks no one). With a live session, a row refused is one being deleted.
      ConditionExpression: 'userId = :userId AND attribute_not_exists(deletedAt) AND (attribute_not_exists(deletingSince) OR deletingSince < :staleBefore)',
      ExpressionAttributeValues: values,
    });
    if (!taken) throw accountBeingDeleted();
    return { token, item: taken.item };
  }

  async markDeleting(owner: { userId: string; openid: string }, now: Date): Promise<DeletionMark | null> {
    const marked = await this.update('idempotent', {
      Key: { openid: { S: owner.openid } },
      // Each attempt of a deletion marks anew, so a retry after a dead one blocks leases again.
      UpdateExpression: 'SET deletingSince = :now',
      ConditionExpression: 'userId = :userId AND attribute_not_exists(deletedAt)',
      ExpressionAttributeValues: { ':userId': { S: owner.userId }, ':now': { N: String(now.getTime()) } },
      ReturnValues: 'ALL_NEW',
    });
    if (!marked) return null;
    const last = marked.item?.lastBindingLease?.S;
    return { leaseUntil: latestLease(marked.item?.leases?.SS ?? []), ...(last ? { lastBindingLease: last } : {}) };
  }

  async updateProfile(owner: { userId: string; openid: string }, change: ProfileChange, endLease?: string): Promise<{ user: User; previous: string | undefined }> {
    const [name, value] = Object.entries(change)[0]!;
    // Setting a value is the same however often it is sent. A copy's ALL_OLD shows the new
    // value, so that request names no previous avatar: the next upload deletes that file
    // once it is old enough (lib/profile/avatar.ts).
    const updated = await this.update('idempotent', {
      Key: { openid: { S: owner.openid } },
      // The writer's lease ends with it (see lease()).
      UpdateExpression: `SET #field = :value${endLease ? ' DELETE leases :lease' : ''}`,
      // The row is this user's and is not being deleted: a late update brings nothing back.
      ConditionExpression: 'userId = :userId AND attribute_not_exists(deletedAt)',
      ExpressionAttributeNames: { '#field': name },
      ExpressionAttributeValues: { ':userId': { S: owner.userId }, ':value': { S: value }, ...(endLease ? { ':lease': { SS: [endLease] } } : {}) },
      // The row as it was: the value replaced (the previous avatar, to delete) and, with the
      // change applied, the row as it is now.
      ReturnValues: 'ALL_OLD',
    });
    if (!updated) throw new AppError('NOT_FOUND', 'The user no longer exists.');
    const previous = updated.item?.[name]?.S;
    return { user: toUser({ ...updated.item, [name]: { S: value } }), previous: previous === value ? undefined : previous };
  }

  async readAccount(openid: string): Promise<AccountRow | null> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      ({ Item: item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { openid: { S: openid } }, ConsistentRead: true })));
    } catch (err) {
      throw storeUnavailable(err);
    }
    const userId = item?.userId?.S;
    if (!item || !userId) return null;
    const deletedAt = item.deletedAt?.S;
    const row: AccountRow = deletedAt
      ? { userId, openid, createdAt: '', lastLoginAt: '', loginCount: 0, deletedAt }
      : toUser(item);
    if (item.replacedPhone?.S && item.replacedPhone.S !== '-') row.replacedPhone = item.replacedPhone.S;
    if (item.phone?.M?.e164?.S) row.phoneE164 = item.phone.M.e164.S;
    if (item.leasedPhones?.SS) row.leasedPhones = item.leasedPhones.SS;
    if (item.mergedFrom?.S) row.mergedFrom = item.mergedFrom.S;
    if (item.suspendedAt?.S) {
      row.suspension = { reason: item.suspendedReason?.S ?? '', at: item.suspendedAt.S, ...(item.suspendedUntil?.S ? { until: item.suspendedUntil.S } : {}) };
    }
    return row;
  }

  async tombstone(owner: { userId: string; openid: string }, now: Date): Promise<void> {
    // Refused: gone already, or another identity's.
    await this.update('idempotent', {
      Key: { openid: { S: owner.openid } },
      UpdateExpression:
        'SET deletedAt = if_not_exists(deletedAt, :now), purgeAt = :purgeAt ' +
        'REMOVE appid, kind, home, mergedFrom, suspendedReason, suspendedAt, suspendedUntil, unionid, linkedUnionid, unionConflict, conflictWith, createdAt, lastLoginAt, loginCount, nickname, avatarKey, #phone, replacedPhone, previousLoginAt, lastLoginId, previousLoginId, undoneLoginId, ' +
        'deletingSince, leases, leasedPhones, lastBindingLease, uploadWindow, uploadCount, uploadWindowBy',
      ConditionExpression: 'userId = :userId',
      ExpressionAttributeNames: { '#phone': 'phone' },
      // DynamoDB's TTL (in seconds) deletes a tombstone that no one finished within a week.
      ExpressionAttributeValues: { ':userId': { S: owner.userId }, ':now': { S: now.toISOString() }, ':purgeAt': { N: String(Math.floor(now.getTime() / 1000) + 7 * 86_400) } },
    });
  }

  async deleteTombstone(owner: { userId: string; openid: string }): Promise<void> {
    // Refused: gone already.
    await this.remove(this.tableName, { openid: { S: owner.openid } }, 'userId = :userId AND attribute_exists(deletedAt)', { ':userId': { S: owner.userId } });
  }

  /**
   * The upgrade's pass (scripts/users.ts claim-unionids): every live row from before identities
   * that holds a unionid with no claim of it (no `linkedUnionid`), by pages of a Scan.
   */
  unlinkedRows(): AsyncGenerator<Record<string, AttributeValue>> {
    return this.pages(
      (ExclusiveStartKey) =>
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'attribute_exists(unionid) AND attribute_not_exists(linkedUnionid) AND attribute_not_exists(deletedAt) AND attribute_exists(userId)',
          ConsistentRead: true,
          ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
        }),
    );
  }

  async identityRows(userId: string): Promise<{ openid: string; secondary: boolean; deleted: boolean }[]> {
    const rows: { openid: string; secondary: boolean; deleted: boolean }[] = [];
    for (const item of await this.queryByUser(this.tableName, userId)) {
      if (item.openid?.S) rows.push({ openid: item.openid.S, secondary: Boolean(item.home?.S), deleted: Boolean(item.deletedAt) });
    }
    return rows;
  }

  async releaseUnionids(userId: string): Promise<void> {
    if (!this.unionTable) throw new AppError('INTERNAL', 'releasing unionids needs the unionids table (UNIONIDS_TABLE)');
    for (const item of await this.queryByUser(this.unionTable, userId)) {
      // Only this user's: a claim taken since by someone else stays.
      await this.remove(this.unionTable, { unionid: item.unionid! }, 'userId = :userId', { ':userId': { S: userId } });
    }
  }

  async dropIdentity(owner: { userId: string; openid: string }): Promise<void> {
    // Never a home row: the user's data is there, and only its deletion removes it.
    await this.remove(this.tableName, { openid: { S: owner.openid } }, 'userId = :userId AND attribute_exists(home)', { ':userId': { S: owner.userId } });
  }

  async moveIdentity(from: { userId: string; openid: string }, into: { userId: string; home: string; unionid?: string }): Promise<void> {
    const Key = { openid: { S: from.openid } };
    const toHome = into.home === from.openid;
    // Refused: moved already, or not `from`'s (any more): either way nothing of `from` is left here.
    await this.update('idempotent', {
      Key,
      UpdateExpression: `SET userId = :into${toHome ? '' : ', home = :home'}`,
      ConditionExpression: 'userId = :from',
      ExpressionAttributeValues: { ':into': { S: into.userId }, ':from': { S: from.userId }, ...(toHome ? {} : { ':home': { S: into.home } }) },
    });
    // The conflict the operator resolved: the identity's unionid is the user's now.
    if (into.unionid) {
      await this.update('idempotent', {
        Key,
        UpdateExpression: 'SET unionid = :unionid, linkedUnionid = :unionid REMOVE unionConflict, conflictWith',
        ConditionExpression: 'userId = :into AND unionConflict = :unionid',
        ExpressionAttributeValues: { ':into': { S: into.userId }, ':unionid': { S: into.unionid } },
      });
    }
  }

  async moveHome(from: { userId: string; openid: string }, into: { userId: string; home: string; unionid?: string }): Promise<void> {
    // What belongs to the user leaves the row with the user (lib/users/merge.ts moved it first);
    // what belongs to the identity (its logins, its app, its link) stays. Refused: moved already.
    await this.update('idempotent', {
      Key: { openid: { S: from.openid } },
      UpdateExpression:
        'SET userId = :into, home = :home, mergedFrom = :from REMOVE nickname, avatarKey, #phone, replacedPhone, leases, leasedPhones, lastBindingLease, deletingSince, uploadWindow, uploadCount, uploadWindowBy',
      ConditionExpression: 'userId = :from',
      ExpressionAttributeNames: { '#phone': 'phone' },
      ExpressionAttributeValues: { ':into': { S: into.userId }, ':from': { S: from.userId }, ':home': { S: into.home } },
    });
    if (into.unionid) await this.moveIdentity({ userId: into.userId, openid: from.openid }, into);
  }

  async moveUnionid(unionid: string, from: string, into: { userId: string; home: string }): Promise<void> {
    try {
      await this.client.send(
        resendable(
          new UpdateItemCommand({
            TableName: this.unionTable,
            Key: { unionid: { S: unionid } },
            UpdateExpression: 'SET userId = :into, home = :home',
            // Refused: moved already, or not `from`'s.
            ConditionExpression: 'userId = :from OR userId = :into',
            ExpressionAttributeValues: { ':into': { S: into.userId }, ':from': { S: from }, ':home': { S: into.home } },
          }),
          'idempotent',
        ),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw storeUnavailable(err);
    }
  }

  async adoptUnionid(home: { userId: string; openid: string }, unionid: string): Promise<void> {
    await this.link(home, unionid, true);
  }

  async recordSuspension(home: { userId: string; openid: string }, suspension: { reason: string; at: string; until?: string }): Promise<boolean> {
    // Setting the same values again is the same however often it is sent.
    const written = await this.update('idempotent', {
      Key: { openid: { S: home.openid } },
      UpdateExpression: `SET suspendedReason = :reason, suspendedAt = :at${suspension.until ? ', suspendedUntil = :until' : ''}${suspension.until ? '' : ' REMOVE suspendedUntil'}`,
      ConditionExpression: 'userId = :userId AND attribute_not_exists(deletedAt)',
      ExpressionAttributeValues: { ':userId': { S: home.userId }, ':reason': { S: suspension.reason }, ':at': { S: suspension.at }, ...(suspension.until ? { ':until': { S: suspension.until } } : {}) },
    });
    return written !== undefined;
  }

  async clearSuspension(home: { userId: string; openid: string }): Promise<void> {
    await this.update('idempotent', {
      Key: { openid: { S: home.openid } },
      UpdateExpression: 'REMOVE suspendedReason, suspendedAt, suspendedUntil',
      ConditionExpression: 'userId = :userId',
      ExpressionAttributeValues: { ':userId': { S: home.userId } },
    });
  }

  /** Every item of `table`'s byUser index for the user, every page. */
  private async queryByUser(table: string | undefined, userId: string): Promise<Record<string, AttributeValue>[]> {
    const items: Record<string, AttributeValue>[] = [];
    const query = (ExclusiveStartKey: Record<string, AttributeValue> | undefined) =>
      new QueryCommand({
        TableName: table,
        IndexName: 'byUser',
        KeyConditionExpression: 'userId = :userId',
        ExpressionAttributeValues: { ':userId': { S: userId } },
        ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
      });
    for await (const item of this.pages(query)) items.push(item);
    return items;
  }

  /** The items of a Query or Scan, page after page (each page's request made by `request`). */
  private async *pages(request: (start: Record<string, AttributeValue> | undefined) => QueryCommand | ScanCommand): AsyncGenerator<Record<string, AttributeValue>> {
    let start: Record<string, AttributeValue> | undefined;
    do {
      let page: { Items?: Record<string, AttributeValue>[]; LastEvaluatedKey?: Record<string, AttributeValue> };
      try {
        page = await this.client.send(request(start) as QueryCommand);
      } catch (err) {
        throw storeUnavailable(err);
      }
      yield* page.Items ?? [];
      start = page.LastEvaluatedKey;
    } while (start);
  }

  async clearProfile(owner: { userId: string; openid: string }): Promise<void> {
    await this.update('idempotent', {
      Key: { openid: { S: owner.openid } },
      UpdateExpression: 'REMOVE nickname, avatarKey',
      ConditionExpression: 'userId = :userId',
      ExpressionAttributeValues: { ':userId': { S: owner.userId } },
    });
  }

  async identitiesOf(userId: string): Promise<Identity[]> {
    const identities: Identity[] = [];
    for (const item of await this.queryByUser(this.tableName, userId)) {
      const openid = item.openid?.S;
      if (!openid || item.deletedAt || !item.createdAt?.S) continue;
      identities.push({
        openid,
        ...(item.appid?.S ? { appid: item.appid.S } : {}),
        ...(item.kind?.S ? { kind: item.kind.S } : {}),
        createdAt: item.createdAt.S,
        lastLoginAt: item.lastLoginAt?.S ?? item.createdAt.S,
        loginCount: Number(item.loginCount?.N ?? 0),
      });
    }
    return identities;
  }

  async findByOpenid(openid: string): Promise<User | null> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      const result = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { openid: { S: openid } },
          ProjectionExpression: USER_ATTRIBUTES.join(', '),
        }),
      );
      item = result.Item;
    } catch (err) {
      throw storeUnavailable(err);
    }
    // A row without a userId is only the fence of an undone first login, and a tombstone is a
    // user being deleted: no user either way.
    return item?.userId?.S && !item.deletedAt ? toUser(item) : null;
  }

  /**
   * One UpdateItem on this table: what it returned (as its ReturnValues asks) when it applied,
   * or undefined when its condition refused it. Any other failure is SERVICE_UNAVAILABLE.
   * `resend` says whether a second copy is safe (lib/adapters/dynamodb.ts, SafeCopy), or that
   * the write is sent once.
   */
  private async update(resend: SafeCopy | 'once', input: Omit<UpdateItemCommandInput, 'TableName'>): Promise<{ item: Record<string, AttributeValue> | undefined } | undefined> {
    const command = new UpdateItemCommand({ TableName: this.tableName, ...input });
    try {
      const { Attributes } = await this.client.send(resend === 'once' ? command : resendable(command, resend));
      return { item: Attributes };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw storeUnavailable(err);
    }
  }

  /**
   * One conditional DeleteItem on `table`, safe to send twice (a copy finds the item gone, or
   * still not what the condition wants): false when the condition refused it. Any other failure
   * is SERVICE_UNAVAILABLE.
   */
  private async remove(table: string | undefined, Key: Record<string, AttributeValue>, ConditionExpression: string, values: Record<string, AttributeValue>): Promise<boolean> {
    const command = new DeleteItemCommand({ TableName: table, Key, ConditionExpression, ExpressionAttributeValues: values });
    try {
      await this.client.send(resendable(command, 'idempotent'));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw storeUnavailable(err);
    }
  }

  private async readForLogin(openid: string): Promise<Record<string, AttributeValue> | undefined> {
    try {
      const result = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { openid: { S: openid } },
          ProjectionExpression: LOGIN_ATTRIBUTES.join(', '),
          ConsistentRead: true,
        }),
      );
      return result.Item;
    } catch (err) {
      throw storeUnavailable(err);
    }
  }
}

/** A failed request: 503, or 500 when DynamoDB refused it as malformed or not allowed (our bug, no retry mends it). */
function storeUnavailable(cause: unknown): AppError {
  return new AppError(clientFault(cause) ? 'INTERNAL' : 'SERVICE_UNAVAILABLE', 'user store request failed', { cause, details: { store: 'dynamodb' } });
}

function toUser(item: Record<string, AttributeValue> | undefined): User {
  const userId = item?.userId?.S;
  const openid = item?.openid?.S;
  const createdAt = item?.createdAt?.S;
  const lastLoginAt = item?.lastLoginAt?.S;
  const loginCount = Number(item?.loginCount?.N);
  if (!userId || !openid || !createdAt || !lastLoginAt || !Number.isFinite(loginCount)) {
    throw new AppError('INTERNAL', 'user row is missing attributes');
  }
  const user: User = { userId, openid, createdAt, lastLoginAt, loginCount };
  const home = item?.home?.S;
  if (home && home !== openid) user.home = home;
  const appid = item?.appid?.S;
  if (appid) user.appid = appid;
  const kind = item?.kind?.S;
  if (kind) user.kind = kind;
  const unionid = item?.unionid?.S;
  if (unionid) user.unionid = unionid;
  const phone = item?.phone?.M;
  const [countryCode, purePhoneNumber, phoneNumber, verifiedAt] = ['countryCode', 'purePhoneNumber', 'phoneNumber', 'verifiedAt'].map((key) => phone?.[key]?.S);
  if (countryCode && purePhoneNumber && phoneNumber && verifiedAt) user.phone = { countryCode, purePhoneNumber, phoneNumber, verifiedAt };
  const nickname = item?.nickname?.S;
  if (nickname) user.nickname = nickname;
  const avatarKey = item?.avatarKey?.S;
  if (avatarKey) user.avatarKey = avatarKey;
  return user;
}
