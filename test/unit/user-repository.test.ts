import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { DynamoUserRepository } from '../../lib/users/repository';

const ddbMock = mockClient(DynamoDBClient);
const NOW = new Date('2026-11-25T08:00:00.000Z');

function row(overrides: Record<string, string | number> = {}) {
  const values = { openid: 'o1', userId: '01NEWUSER', createdAt: NOW.toISOString(), lastLoginAt: NOW.toISOString(), loginCount: 1, ...overrides };
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key, typeof value === 'number' ? { N: String(value) } : { S: value }]),
  );
}

describe('Class: DynamoUserRepository', () => {
  afterEach(() => {
    ddbMock.reset();
  });

  describe('Method: recordLogin', () => {
    it('upserts in a single UpdateItem keyed by openid, never overwriting userId or createdAt', async () => {
      // Prepare
      ddbMock.on(UpdateItemCommand).resolves({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');

      // Act
      await repo.recordLogin({ openid: 'o1', newUserId: '01NEWUSER', now: NOW });

      // Assess
      expect(ddbMock.calls()).toHaveLength(1);
      const input = ddbMock.commandCalls(UpdateItemCommand)[0]!.args[0].input;
      expect(input).toEqual({
        TableName: 'users',
        Key: { openid: { S: 'o1' } },
        UpdateExpression:
          'SET userId = if_not_exists(userId, :newUserId), createdAt = if_not_exists(createdAt, :now), lastLoginAt = :now ADD loginCount :one',
        ExpressionAttributeValues: { ':newUserId': { S: '01NEWUSER' }, ':now': { S: NOW.toISOString() }, ':one': { N: '1' } },
        ReturnValues: 'ALL_OLD',
      });
    });

    it('reports a new user when there was no row before', async () => {
      ddbMock.on(UpdateItemCommand).resolves({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin({ openid: 'o1', newUserId: '01NEWUSER', now: NOW })).resolves.toEqual({
        isNewUser: true,
        user: { userId: '01NEWUSER', openid: 'o1', createdAt: NOW.toISOString(), lastLoginAt: NOW.toISOString(), loginCount: 1 },
        receipt: { openid: 'o1', userId: '01NEWUSER', isNewUser: true, at: NOW.toISOString() },
      });
    });

    it('reports a returning user, derived from the row as it was', async () => {
      const earlier = '2026-11-01T00:00:00.000Z';
      ddbMock.on(UpdateItemCommand).resolves({
        Attributes: row({ userId: '01OLDUSER', createdAt: earlier, lastLoginAt: earlier, loginCount: 7, unionid: 'u1', nickname: 'kept' }),
      });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      const result = await repo.recordLogin({ openid: 'o1', newUserId: '01NEWUSER', now: NOW });
      expect(result.isNewUser).toBe(false);
      expect(result.user).toEqual({ userId: '01OLDUSER', openid: 'o1', createdAt: earlier, lastLoginAt: NOW.toISOString(), loginCount: 8, unionid: 'u1' });
      expect(result.receipt).toEqual({ openid: 'o1', userId: '01OLDUSER', isNewUser: false, at: NOW.toISOString(), previousLastLoginAt: earlier });
    });

    it('sets unionid when WeChat sends one', async () => {
      ddbMock.on(UpdateItemCommand).resolves({ Attributes: row({ unionid: 'u1' }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.recordLogin({ openid: 'o1', unionid: 'u1', newUserId: '01NEWUSER', now: NOW });
      const input = ddbMock.commandCalls(UpdateItemCommand)[0]!.args[0].input;
      expect(input.UpdateExpression).toContain('unionid = :unionid');
      expect(input.ExpressionAttributeValues?.[':unionid']).toEqual({ S: 'u1' });
    });

    it('leaves a stored unionid alone when WeChat omits it', async () => {
      ddbMock.on(UpdateItemCommand).resolves({ Attributes: row({ unionid: 'u1' }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.recordLogin({ openid: 'o1', newUserId: '01NEWUSER', now: NOW });
      const input = ddbMock.commandCalls(UpdateItemCommand)[0]!.args[0].input;
      expect(input.UpdateExpression).not.toContain('unionid');
      expect(input.ExpressionAttributeValues).not.toHaveProperty(':unionid');
    });

    it('turns throttling into SERVICE_UNAVAILABLE', async () => {
      ddbMock.on(UpdateItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      const err = await repo.recordLogin({ openid: 'o1', newUserId: '01NEWUSER', now: NOW }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('SERVICE_UNAVAILABLE');
      expect((err as AppError).status).toBe(503);
    });

    it('turns a network failure into SERVICE_UNAVAILABLE', async () => {
      ddbMock.on(UpdateItemCommand).rejects(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin({ openid: 'o1', newUserId: 'n', now: NOW })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });

    it('fails as INTERNAL if an existing row lacks what it must hold', async () => {
      ddbMock.on(UpdateItemCommand).resolves({ Attributes: { openid: { S: 'o1' }, userId: { S: 'u' } } });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin({ openid: 'o1', newUserId: 'n', now: NOW })).rejects.toMatchObject({ code: 'INTERNAL' });
    });
  });

  describe('Method: findByOpenid', () => {
    it('reads one row by key, projecting only the user attributes', async () => {
      ddbMock.on(GetItemCommand).resolves({ Item: row({ loginCount: 3 }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.findByOpenid('o1')).resolves.toMatchObject({ userId: '01NEWUSER', loginCount: 3 });
      const input = ddbMock.commandCalls(GetItemCommand)[0]!.args[0].input;
      expect(input).toEqual({
        TableName: 'users',
        Key: { openid: { S: 'o1' } },
        ProjectionExpression: 'openid, userId, unionid, createdAt, lastLoginAt, loginCount',
      });
    });

    it('answers null when there is no such user', async () => {
      ddbMock.on(GetItemCommand).resolves({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.findByOpenid('o1')).resolves.toBeNull();
    });

    it('turns a failure into SERVICE_UNAVAILABLE', async () => {
      ddbMock.on(GetItemCommand).rejects(new Error('boom'));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.findByOpenid('o1')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });
  });

  describe('Method: undoLogin', () => {
    const at = NOW.toISOString();

    it('deletes a user it created, only if no login touched the row since', async () => {
      ddbMock.on(DeleteItemCommand).resolves({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.undoLogin({ openid: 'o1', userId: '01NEWUSER', isNewUser: true, at });
      expect(ddbMock.commandCalls(DeleteItemCommand)[0]!.args[0].input).toEqual({
        TableName: 'users',
        Key: { openid: { S: 'o1' } },
        ConditionExpression: 'userId = :userId AND lastLoginAt = :at AND loginCount = :one',
        ExpressionAttributeValues: { ':userId': { S: '01NEWUSER' }, ':at': { S: at }, ':one': { N: '1' } },
      });
    });

    it('restores a returning user’s lastLoginAt and loginCount, deleting nothing', async () => {
      ddbMock.on(UpdateItemCommand).resolves({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.undoLogin({ openid: 'o1', userId: 'u1', isNewUser: false, at, previousLastLoginAt: '2026-11-01T00:00:00.000Z' });
      expect(ddbMock.commandCalls(DeleteItemCommand)).toHaveLength(0);
      expect(ddbMock.commandCalls(UpdateItemCommand)[0]!.args[0].input).toMatchObject({
        UpdateExpression: 'SET lastLoginAt = :previous ADD loginCount :minusOne',
        ConditionExpression: 'userId = :userId AND lastLoginAt = :at',
      });
    });

    it('leaves the row alone when a later login got there first', async () => {
      ddbMock.on(DeleteItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.undoLogin({ openid: 'o1', userId: 'u', isNewUser: true, at })).resolves.toBeUndefined();
    });

    it('reports any other failure as SERVICE_UNAVAILABLE', async () => {
      ddbMock.on(DeleteItemCommand).rejects(new Error('down'));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.undoLogin({ openid: 'o1', userId: 'u', isNewUser: true, at })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });
  });
});
