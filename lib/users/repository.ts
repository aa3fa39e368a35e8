import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { AppError } from '../errors';

export interface User {
  userId: string;
  openid: string;
  unionid?: string;
  createdAt: string;
  lastLoginAt: string;
  loginCount: number;
}

export interface RecordLogin {
  openid: string;
  unionid?: string;
  /** The id to assign if this openid has never logged in. */
  newUserId: string;
  now: Date;
}

/** What a recorded login changed, so a login that fails afterwards can take it back. */
export interface LoginReceipt {
  openid: string;
  userId: string;
  isNewUser: boolean;
  /** The lastLoginAt this login wrote. */
  at: string;
  /** The lastLoginAt it replaced (returning users). */
  previousLastLoginAt?: string;
}

export interface RecordedLogin {
  user: User;
  isNewUser: boolean;
  receipt: LoginReceipt;
}

/** The port the login use case depends on. */
export interface UserRepository {
  recordLogin(input: RecordLogin): Promise<RecordedLogin>;
  /**
   * Takes back a recorded login whose session could not be issued, unless a later login has
   * touched the row since: a user it created is removed, a returning user's lastLoginAt and
   * loginCount are restored. Nothing else a row holds is ever removed.
   */
  undoLogin(receipt: LoginReceipt): Promise<void>;
}

/** The port the profile use case depends on. */
export interface UserReader {
  findByOpenid(openid: string): Promise<User | null>;
}

/** The attributes a user row is read for: a login can never expose anything else a row holds. */
const USER_ATTRIBUTES = ['openid', 'userId', 'unionid', 'createdAt', 'lastLoginAt', 'loginCount'];

/** The slice of DynamoDBClient we use: easy to fake, and the real client fits it. */
export type DynamoSend = Pick<DynamoDBClient, 'send'>;

/**
 * Users live in one table keyed by `openid`. A login is a single UpdateItem:
 * `if_not_exists` keeps the first userId/createdAt forever, so concurrent first logins of
 * one openid cannot create two users, and the old row it returns tells exactly one of them
 * (the one that found no row) that it created the user. No read-then-write.
 * Only the attributes named here are touched: anything else a row holds is left alone.
 */
export class DynamoUserRepository implements UserRepository, UserReader {
  constructor(
    private readonly client: DynamoSend,
    private readonly tableName: string,
  ) {}

  async recordLogin({ openid, unionid, newUserId, now }: RecordLogin): Promise<RecordedLogin> {
    const at = now.toISOString();
    const values: Record<string, AttributeValue> = {
      ':newUserId': { S: newUserId },
      ':now': { S: at },
      ':one': { N: '1' },
    };
    // unionid is set whenever WeChat sends it (it first appears once the app is bound to an
    // Open Platform account) and kept when a later answer omits it.
    let set = 'userId = if_not_exists(userId, :newUserId), createdAt = if_not_exists(createdAt, :now), lastLoginAt = :now';
    if (unionid) {
      set += ', unionid = :unionid';
      values[':unionid'] = { S: unionid };
    }

    let old: Record<string, AttributeValue> | undefined;
    try {
      const result = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { openid: { S: openid } },
          UpdateExpression: `SET ${set} ADD loginCount :one`,
          ExpressionAttributeValues: values,
          // The row as it was: absent means this request created the user. The new row
          // follows from it, and the old lastLoginAt is what an undo restores.
          ReturnValues: 'ALL_OLD',
        }),
      );
      old = result.Attributes;
    } catch (err) {
      throw storeUnavailable(err);
    }

    if (!old?.userId?.S) {
      const user: User = { userId: newUserId, openid, createdAt: at, lastLoginAt: at, loginCount: 1 };
      if (unionid) user.unionid = unionid;
      return { user, isNewUser: true, receipt: { openid, userId: newUserId, isNewUser: true, at } };
    }
    const previous = toUser(old);
    const user: User = { ...previous, lastLoginAt: at, loginCount: previous.loginCount + 1 };
    if (unionid) user.unionid = unionid;
    return {
      user,
      isNewUser: false,
      receipt: { openid, userId: user.userId, isNewUser: false, at, previousLastLoginAt: previous.lastLoginAt },
    };
  }

  async undoLogin(receipt: LoginReceipt): Promise<void> {
    const Key = { openid: { S: receipt.openid } };
    // Both conditions say "no login has touched this row since ours".
    const command = receipt.isNewUser
      ? new DeleteItemCommand({
          TableName: this.tableName,
          Key,
          ConditionExpression: 'userId = :userId AND lastLoginAt = :at AND loginCount = :one',
          ExpressionAttributeValues: { ':userId': { S: receipt.userId }, ':at': { S: receipt.at }, ':one': { N: '1' } },
        })
      : new UpdateItemCommand({
          TableName: this.tableName,
          Key,
          UpdateExpression: 'SET lastLoginAt = :previous ADD loginCount :minusOne',
          ConditionExpression: 'userId = :userId AND lastLoginAt = :at',
          ExpressionAttributeValues: {
            ':previous': { S: receipt.previousLastLoginAt ?? receipt.at },
            ':minusOne': { N: '-1' },
            ':userId': { S: receipt.userId },
            ':at': { S: receipt.at },
          },
        });
    try {
      await this.client.send(command);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return; // a later login owns the row now
      throw storeUnavailable(err);
    }
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
    return item ? toUser(item) : null;
  }
}

function storeUnavailable(cause: unknown): AppError {
  return new AppError('SERVICE_UNAVAILABLE', 'user store request failed', { cause, details: { store: 'dynamodb' } });
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
  const unionid = item?.unionid?.S;
  if (unionid) user.unionid = unionid;
  return user;
}
