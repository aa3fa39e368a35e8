import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { AppError, clientFault } from '../errors';
import { resendable, type SafeCopy } from './dynamodb';
import type { DynamoSend } from './dynamodb-users';
import type { Claim, Holder, PhoneBinding, PhoneRepository } from '../phone/service';

/**
 * Phone numbers in DynamoDB, without transactions (dynalite has none): a claims table keyed by
 * the number in E.164, `{phone, userId, openid, claimedAt}`, and the binding on the user row
 * (attribute `phone`, a map: e164, countryCode, purePhoneNumber, phoneNumber, verifiedAt; and
 * `replacedPhone`, the number the last binding replaced, removed once it is freed).
 * Every write is conditional and safe for the SDK to send twice, and says why (`resendable`):
 * a copy of a write that landed either does the same again (idempotent) or fails its condition
 * (own-id), and then the item says it was ours.
 */
export class DynamoPhoneRepository implements PhoneRepository {
  constructor(
    private readonly client: DynamoSend,
    private readonly tables: { phones: string; users: string },
  ) {}

  async claim(number: string, owner: Holder, now: number): Promise<{ claimed: true } | ({ claimed: false } & Claim)> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const claimed = await this.write(
        new PutItemCommand({
          TableName: this.tables.phones,
          Item: claimItem(number, owner, now),
          // Free, or already ours (our own retry, or the SDK's second copy of this write).
          ConditionExpression: 'attribute_not_exists(phone) OR userId = :userId',
          ExpressionAttributeValues: { ':userId': { S: owner.userId } },
        }),
        // A copy puts the same item again.
        'idempotent',
      );
      if (claimed) return { claimed: true };
      const held = await this.readClaim(number);
      if (held) return { claimed: false, ...held };
      // Released between our write and our read: try once more.
    }
    throw new AppError('SERVICE_UNAVAILABLE', 'phone claim kept changing', { details: { store: 'dynamodb' } });
  }

  async confirms(holder: Holder, number: string): Promise<string | undefined> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      ({ Item: item } = await this.client.send(
        new GetItemCommand({
          TableName: this.tables.users,
          Key: { openid: { S: holder.openid } },
          ProjectionExpression: 'userId, #phone.e164, #phone.verifiedAt',
          ExpressionAttributeNames: { '#phone': 'phone' },
          ConsistentRead: true,
        }),
      ));
    } catch (err) {
      throw unavailable(err);
    }
    const holds = item?.userId?.S === holder.userId && item?.phone?.M?.e164?.S === number;
    return holds ? (item?.phone?.M?.verifiedAt?.S ?? '') : undefined;
  }

  async takeOver(number: string, seen: Claim, to: Holder, now: number): Promise<boolean> {
    const taken = await this.write(
      new PutItemCommand({
        TableName: this.tables.phones,
        Item: claimItem(number, to, now),
        ConditionExpression: 'userId = :from AND claimedAt = :seenAt',
        ExpressionAttributeValues: { ':from': { S: seen.holder.userId }, ':seenAt': { N: String(seen.claimedAt) } },
      }),
      // A copy finds the claim this write made, not the one it saw.
      'own-id',
    );
    if (taken) return true;
    // Lost, or this is the SDK's second copy of a take-over that landed: the claim says which.
    const held = await this.readClaim(number);
    return held?.holder.userId === to.userId && held.claimedAt === now;
  }

  async unbind(holder: Holder, number: string): Promise<void> {
    // Refused: gone already.
    await this.write(
      new UpdateItemCommand({
        TableName: this.tables.users,
        Key: { openid: { S: holder.openid } },
        UpdateExpression: 'REMOVE #phone',
        ConditionExpression: 'userId = :userId AND #phone.e164 = :number',
        ExpressionAttributeNames: { '#phone': 'phone' },
        ExpressionAttributeValues: { ':userId': { S: holder.userId }, ':number': { S: number } },
      }),
      'idempotent',
    );
  }

  async bind(owner: Holder, number: string, binding: PhoneBinding, lease: string): Promise<string | undefined> {
    const bound = await this.write(
      new UpdateItemCommand({
        TableName: this.tables.users,
        Key: { openid: { S: owner.openid } },
        // `replacedPhone` keeps the number this write replaced on the row itself: a second
        // copy of the write (the SDK's retry, or the user's retry after a lost answer) fails
        // its condition, and the row still says which number is to be freed.
        // The binding is done: a deletion need not wait for its lease (lastBindingLease), and a
        // lease it took on the row, with the row's memory of the number, can go.
        UpdateExpression: 'SET #phone = :binding, replacedPhone = if_not_exists(#phone.e164, :none), lastBindingLease = :lease DELETE leasedPhones :leased, leases :leases',
        // The row is this user's (a deleted account is not brought back by a late binding),
        // and does not hold this number yet.
        ConditionExpression: 'userId = :userId AND attribute_not_exists(deletedAt) AND (attribute_not_exists(#phone) OR #phone.e164 <> :number)',
        ExpressionAttributeNames: { '#phone': 'phone' },
        ExpressionAttributeValues: {
          ':userId': { S: owner.userId },
          ':number': { S: number },
          ':none': { S: '-' },
          ':leased': { SS: [number] },
          ':lease': { S: lease },
          ':leases': { SS: [lease] },
          ':binding': {
            M: {
              e164: { S: number },
              countryCode: { S: binding.countryCode },
              purePhoneNumber: { S: binding.purePhoneNumber },
              phoneNumber: { S: binding.phoneNumber },
              verifiedAt: { S: binding.verifiedAt },
            },
          },
        },
        ReturnValues: 'UPDATED_NEW',
      }),
      // A copy finds the row holding this very number, which its condition refuses.
      'own-id',
    );
    if (bound) return replaced(bound.Attributes);
    // Gone, or already holding this number (an earlier copy of this binding landed).
    let item: Record<string, AttributeValue> | undefined;
    try {
      ({ Item: item } = await this.client.send(
        new GetItemCommand({
          TableName: this.tables.users,
          Key: { openid: { S: owner.openid } },
          ProjectionExpression: 'userId, replacedPhone, deletedAt',
          ConsistentRead: true,
        }),
      ));
    } catch (err) {
      throw unavailable(err);
    }
    if (item?.userId?.S !== owner.userId || item.deletedAt) throw new AppError('NOT_FOUND', 'The user no longer exists.');
    // The row holds the number already (this binding's earlier copy, or the same number bound
    // again): the binding is done all the same, so its lease ends as the write above would.
    const ended = await this.write(
      new UpdateItemCommand({
        TableName: this.tables.users,
        Key: { openid: { S: owner.openid } },
        UpdateExpression: 'SET lastBindingLease = :lease DELETE leasedPhones :leased, leases :leases',
        ConditionExpression: 'userId = :userId AND attribute_not_exists(deletedAt)',
        ExpressionAttributeValues: { ':userId': { S: owner.userId }, ':lease': { S: lease }, ':leased': { SS: [number] }, ':leases': { SS: [lease] } },
      }),
      'idempotent',
    );
    if (!ended) throw new AppError('NOT_FOUND', 'The user no longer exists.');
    return replaced(item);
  }

  async release(number: string, owner: Holder): Promise<void> {
    // Refused: taken, or gone already.
    await this.write(
      new DeleteItemCommand({
        TableName: this.tables.phones,
        Key: { phone: { S: number } },
        ConditionExpression: 'userId = :userId',
        ExpressionAttributeValues: { ':userId': { S: owner.userId } },
      }),
      'idempotent',
    );
    // Freed: the row need not remember it any longer (it is someone else's number soon).
    // Refused: cleared already, or a newer binding's.
    await this.write(
      new UpdateItemCommand({
        TableName: this.tables.users,
        Key: { openid: { S: owner.openid } },
        UpdateExpression: 'REMOVE replacedPhone',
        ConditionExpression: 'userId = :userId AND replacedPhone = :number',
        ExpressionAttributeValues: { ':userId': { S: owner.userId }, ':number': { S: number } },
      }),
      'idempotent',
    );
  }

  /**
   * Sends a conditional write, marked safe to send twice for `why`: its answer, or undefined
   * when its condition refused it (what that means is each caller's to say).
   */
  private async write<C extends PutItemCommand | UpdateItemCommand | DeleteItemCommand>(
    command: C,
    why: SafeCopy,
  ): Promise<{ Attributes?: Record<string, AttributeValue> } | undefined> {
    try {
      // The client's `send` takes each command type through an overload of its own, not their union.
      return (await this.client.send(resendable(command, why) as never)) as { Attributes?: Record<string, AttributeValue> };
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw unavailable(err);
    }
  }

  async claimsOf(userId: string): Promise<string[]> {
    const numbers: string[] = [];
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new QueryCommand({
            TableName: this.tables.phones,
            IndexName: 'byUser',
            KeyConditionExpression: 'userId = :userId',
            ExpressionAttributeValues: { ':userId': { S: userId } },
            ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
          }),
        );
      } catch (err) {
        throw unavailable(err);
      }
      for (const item of page.Items ?? []) if (item.phone?.S) numbers.push(item.phone.S);
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return numbers;
  }

  /** Who holds the claim on a number (E.164), if anyone: the operator's lookup by phone (scripts/users.ts show). */
  async holderOf(number: string): Promise<Holder | undefined> {
    return (await this.readClaim(number))?.holder;
  }

  private async readClaim(number: string): Promise<Claim | undefined> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      ({ Item: item } = await this.client.send(new GetItemCommand({ TableName: this.tables.phones, Key: { phone: { S: number } }, ConsistentRead: true })));
    } catch (err) {
      throw unavailable(err);
    }
    const userId = item?.userId?.S;
    const openid = item?.openid?.S;
    const claimedAt = Number(item?.claimedAt?.N);
    return userId && openid && Number.isFinite(claimedAt) ? { holder: { userId, openid }, claimedAt } : undefined;
  }
}

function replaced(item: Record<string, AttributeValue> | undefined): string | undefined {
  const number = item?.replacedPhone?.S;
  return number && number !== '-' ? number : undefined;
}

function claimItem(number: string, holder: Holder, now: number): Record<string, AttributeValue> {
  return { phone: { S: number }, userId: { S: holder.userId }, openid: { S: holder.openid }, claimedAt: { N: String(now) } };
}

/** As the users adapter's storeUnavailable: 503, or 500 for a request DynamoDB refused as malformed or not allowed. */
function unavailable(cause: unknown): AppError {
  return new AppError(clientFault(cause) ? 'INTERNAL' : 'SERVICE_UNAVAILABLE', 'phone store request failed', { cause, details: { store: 'dynamodb' } });
}
