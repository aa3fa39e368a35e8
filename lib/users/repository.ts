import { GetItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
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

/** The port the login use case depends on. */
export interface UserRepository {
  recordLogin(input: RecordLogin): Promise<{ user: User; isNewUser: boolean }>;
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
 * one openid cannot create two users, and the returned userId tells exactly one of them
 * (the one whose candidate id won) that it created the user. No read-then-write.
 * Only the attributes named here are touched: anything else a row holds is left alone.
 */
export class DynamoUserRepository implements UserRepository, UserReader {
  constructor(
    private readonly client: DynamoSend,
    private readonly tableName: string,
  ) {}

  async recordLogin({ openid, unionid, newUserId, now }: RecordLogin): Promise<{ user: User; isNewUser: boolean }> {
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

    let attributes: Record<string, AttributeValue> | undefined;
    try {
      const result = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { openid: { S: openid } },
          UpdateExpression: `SET ${set} ADD loginCount :one`,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      attributes = result.Attributes;
    } catch (err) {
      throw storeUnavailable(err);
    }

    const user = toUser(attributes);
    return { user, isNewUser: user.userId === newUserId };
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
    throw new AppError('INTERNAL', 'user row is missing attributes after update');
  }
  const user: User = { userId, openid, createdAt, lastLoginAt, loginCount };
  const unionid = item?.unionid?.S;
  if (unionid) user.unionid = unionid;
  return user;
}
