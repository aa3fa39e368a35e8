import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { DynamoUserRepository } from '../../lib/adapters/dynamodb-users';

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
    const input = { openid: 'o1', newUserId: '01NEWUSER', loginId: 'L1', now: NOW };

    it('upserts in a single UpdateItem keyed by openid, tagged with the login id, never overwriting userId or createdAt', async () => {
      // Prepare
      ddbMock.on(UpdateItemCommand).resolves({ Attributes: row({ lastLoginId: 'L1' }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');

      // Act
      await repo.recordLogin(input);

      // Assess
      expect(ddbMock.calls()).toHaveLength(1);
      expect(ddbMock.commandCalls(UpdateItemCommand)[0]!.args[0].input).toEqual({
        TableName: 'users',
        Key: { openid: { S: 'o1' } },
        UpdateExpression:
          'SET userId = if_not_exists(userId, :newUserId), createdAt = if_not_exists(createdAt, :now), ' +
          'previousLoginAt = if_not_exists(lastLoginAt, :now), lastLoginAt = :now, ' +
          'previousLoginId = if_not_exists(lastLoginId, :none), lastLoginId = :loginId ADD loginCount :one',
        ConditionExpression:
          '(attribute_not_exists(lastLoginId) OR lastLoginId <> :loginId) AND (attribute_not_exists(undoneLoginId) OR undoneLoginId <> :loginId) AND attribute_not_exists(deletedAt)',
        ExpressionAttributeValues: { ':newUserId': { S: '01NEWUSER' }, ':now': { S: NOW.toISOString() }, ':one': { N: '1' }, ':loginId': { S: 'L1' }, ':none': { S: '-' } },
        ReturnValues: 'ALL_NEW',
      });
    });

    it('returns the row as this login left it, without its bookkeeping', async () => {
      ddbMock.on(UpdateItemCommand).resolves({ Attributes: row({ loginCount: 1 }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin(input)).resolves.toEqual({
        user: { userId: '01NEWUSER', openid: 'o1', createdAt: NOW.toISOString(), lastLoginAt: NOW.toISOString(), loginCount: 1 },
      });
    });

    it('returns a returning user’s row as the login left it', async () => {
      const earlier = '2026-11-01T00:00:00.000Z';
      ddbMock.on(UpdateItemCommand).resolves({
        Attributes: row({ userId: '01OLDUSER', createdAt: earlier, loginCount: 8, unionid: 'u1', nickname: 'kept', previousLoginAt: earlier }),
      });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      const result = await repo.recordLogin(input);
      expect(result).toEqual({
        user: { userId: '01OLDUSER', openid: 'o1', createdAt: earlier, lastLoginAt: NOW.toISOString(), loginCount: 8, unionid: 'u1', nickname: 'kept' },
      });
    });

    it('reads the row back when a retried copy finds its own earlier write landed, and counts it once', async () => {
      // Prepare: the SDK's second attempt fails the condition because the first one landed
      ddbMock.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
      ddbMock.on(GetItemCommand).resolves({ Item: row({ lastLoginId: 'L1', loginCount: 1 }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');

      // Act
      const result = await repo.recordLogin(input);

      // Assess
      expect(result).toMatchObject({ user: { userId: '01NEWUSER', loginCount: 1 } });
      expect(ddbMock.commandCalls(GetItemCommand)[0]!.args[0].input).toMatchObject({ Key: { openid: { S: 'o1' } }, ConsistentRead: true });
    });

    it('says the account is being deleted when the row is a tombstone', async () => {
      ddbMock.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
      ddbMock.on(GetItemCommand).resolves({ Item: { openid: { S: 'o1' }, userId: { S: 'U-old' }, deletedAt: { S: NOW.toISOString() } } });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin(input)).rejects.toMatchObject({ name: 'AccountBeingDeleted', userId: 'U-old' });
    });

    it('fails SERVICE_UNAVAILABLE when the row it reads back was written by another login since', async () => {
      ddbMock.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
      ddbMock.on(GetItemCommand).resolves({ Item: row({ lastLoginId: 'L2', loginCount: 2 }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin(input)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });

    describe('identities (docs/identities.md)', () => {
      const sends = () => ddbMock.calls().map((call) => {
        const { input: sent } = call.args[0] as { input: { TableName?: string } };
        return `${(call.args[0] as object).constructor.name}:${sent.TableName}`;
      });
      const repo = () => new DynamoUserRepository(new DynamoDBClient({}), 'users', 'unionids');

      it('a returning login through an identity linked to the unionid: one request, the row’s write', async () => {
        ddbMock.on(UpdateItemCommand).resolves({ Attributes: row({ unionid: 'u1', linkedUnionid: 'u1', loginCount: 5 }) });
        await expect(repo().recordLogin({ ...input, unionid: 'u1' })).resolves.toEqual({ user: expect.objectContaining({ userId: '01NEWUSER', unionid: 'u1' }) });
        expect(sends()).toEqual(['UpdateItemCommand:users']);
        // The unionid is not written by the row's write: only once its claim says whose it is.
        expect(ddbMock.commandCalls(UpdateItemCommand)[0]!.args[0].input.UpdateExpression).not.toContain('unionid');
      });

      it('a new user’s first identity with a unionid no one holds: three requests (the row, the claim, the link)', async () => {
        ddbMock.on(UpdateItemCommand, { TableName: 'users' }).resolves({ Attributes: row() });
        ddbMock.on(UpdateItemCommand, { TableName: 'unionids' }).resolves({ Attributes: { unionid: { S: 'u1' }, userId: { S: '01NEWUSER' }, home: { S: 'o1' } } });
        await expect(repo().recordLogin({ ...input, unionid: 'u1' })).resolves.toEqual({ user: expect.objectContaining({ userId: '01NEWUSER', unionid: 'u1' }) });
        expect(sends()).toEqual(['UpdateItemCommand:users', 'UpdateItemCommand:unionids', 'UpdateItemCommand:users']);
        const claim = ddbMock.commandCalls(UpdateItemCommand, { TableName: 'unionids' })[0]!.args[0].input;
        expect(claim.UpdateExpression).toContain('userId = if_not_exists(userId, :userId)');
        expect(claim.ConditionExpression).toBeUndefined();
      });

      it('a new identity whose unionid another user holds: three requests, and the row joins the holder with its home', async () => {
        ddbMock.on(UpdateItemCommand, { TableName: 'users' }).resolvesOnce({ Attributes: row() }).resolves({ Attributes: row({ userId: '01HOLDER', home: 'oHome', unionid: 'u1' }) });
        ddbMock.on(UpdateItemCommand, { TableName: 'unionids' }).resolves({ Attributes: { unionid: { S: 'u1' }, userId: { S: '01HOLDER' }, home: { S: 'oHome' } } });
        const recorded = await repo().recordLogin({ ...input, unionid: 'u1' });
        expect(recorded).toEqual({ user: expect.objectContaining({ userId: '01HOLDER', home: 'oHome', unionid: 'u1' }) });
        expect(sends()).toHaveLength(3);
        const join = ddbMock.commandCalls(UpdateItemCommand, { TableName: 'users' })[1]!.args[0].input;
        // Only a row whose user never had a login counted before joins.
        expect(join.ConditionExpression).toContain('loginCount = :one');
      });

      it('an identity of an established user whose unionid another user holds: recorded, not merged', async () => {
        ddbMock.on(UpdateItemCommand, { TableName: 'users' }).resolves({ Attributes: row({ loginCount: 4 }) });
        ddbMock.on(UpdateItemCommand, { TableName: 'unionids' }).resolves({ Attributes: { unionid: { S: 'u1' }, userId: { S: '01HOLDER' }, home: { S: 'oHome' } } });
        const recorded = await repo().recordLogin({ ...input, unionid: 'u1' });
        expect(recorded).toEqual({ user: expect.objectContaining({ userId: '01NEWUSER' }), conflict: { unionid: 'u1', holder: '01HOLDER' } });
        expect(recorded.user.unionid).toBeUndefined();
        const record = ddbMock.commandCalls(UpdateItemCommand, { TableName: 'users' })[1]!.args[0].input;
        expect(record.UpdateExpression).toBe('SET unionConflict = :unionid, conflictWith = :holder');
      });

      it('a row from before identities, which holds the unionid but no claim of it: its next login claims it (three requests, once)', async () => {
        ddbMock.on(UpdateItemCommand, { TableName: 'users' }).resolves({ Attributes: row({ unionid: 'u1', loginCount: 9 }) });
        ddbMock.on(UpdateItemCommand, { TableName: 'unionids' }).resolves({ Attributes: { unionid: { S: 'u1' }, userId: { S: '01NEWUSER' }, home: { S: 'o1' } } });
        await expect(repo().recordLogin({ ...input, unionid: 'u1' })).resolves.toEqual({ user: expect.objectContaining({ userId: '01NEWUSER', unionid: 'u1' }) });
        expect(sends()).toEqual(['UpdateItemCommand:users', 'UpdateItemCommand:unionids', 'UpdateItemCommand:users']);
        expect(ddbMock.commandCalls(UpdateItemCommand, { TableName: 'users' })[1]!.args[0].input.UpdateExpression).toContain('linkedUnionid = :unionid');
      });

      it('a conflict recorded before: two requests (the row, the claim asked again), nothing written, not reported again', async () => {
        ddbMock.on(UpdateItemCommand, { TableName: 'users' }).resolves({ Attributes: row({ loginCount: 5, unionConflict: 'u1', conflictWith: '01HOLDER' }) });
        ddbMock.on(UpdateItemCommand, { TableName: 'unionids' }).resolves({ Attributes: { unionid: { S: 'u1' }, userId: { S: '01HOLDER' }, home: { S: 'oHome' } } });
        await expect(repo().recordLogin({ ...input, unionid: 'u1' })).resolves.toMatchObject({ conflict: { unionid: 'u1', holder: '01HOLDER', known: true } });
        expect(sends()).toEqual(['UpdateItemCommand:users', 'UpdateItemCommand:unionids']);
      });

      it('a conflict whose holder is gone since (its account deleted, the claim freed): this user takes the unionid', async () => {
        ddbMock.on(UpdateItemCommand, { TableName: 'users' }).resolves({ Attributes: row({ loginCount: 5, unionConflict: 'u1', conflictWith: '01GONE' }) });
        ddbMock.on(UpdateItemCommand, { TableName: 'unionids' }).resolves({ Attributes: { unionid: { S: 'u1' }, userId: { S: '01NEWUSER' }, home: { S: 'o1' } } });
        const recorded = await repo().recordLogin({ ...input, unionid: 'u1' });
        expect(recorded).toEqual({ user: expect.objectContaining({ userId: '01NEWUSER', unionid: 'u1' }) });
        const link = ddbMock.commandCalls(UpdateItemCommand, { TableName: 'users' })[1]!.args[0].input;
        expect(link.UpdateExpression).toContain('REMOVE unionConflict, conflictWith');
      });
    });

    it('leaves a stored unionid alone when WeChat omits it', async () => {
      ddbMock.on(UpdateItemCommand).resolves({ Attributes: row({ unionid: 'u1' }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.recordLogin(input);
      const sent = ddbMock.commandCalls(UpdateItemCommand)[0]!.args[0].input;
      expect(sent.UpdateExpression).not.toContain('unionid');
      expect(sent.ExpressionAttributeValues).not.toHaveProperty(':unionid');
    });

    it('turns throttling into SERVICE_UNAVAILABLE', async () => {
      ddbMock.on(UpdateItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      const err = await repo.recordLogin(input).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('SERVICE_UNAVAILABLE');
      expect((err as AppError).status).toBe(503);
    });

    it('turns a request DynamoDB refuses as malformed (ValidationException) into INTERNAL: no retry mends it', async () => {
      ddbMock.on(UpdateItemCommand).rejects(new DynamoDBServiceException({ name: 'ValidationException', $fault: 'client', message: 'invalid', $metadata: { httpStatusCode: 400 } }));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin(input)).rejects.toMatchObject({ code: 'INTERNAL', status: 500 });
    });

    it('turns a network failure into SERVICE_UNAVAILABLE', async () => {
      ddbMock.on(UpdateItemCommand).rejects(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin(input)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });

    it('fails as INTERNAL if the row lacks what it must hold', async () => {
      ddbMock.on(UpdateItemCommand).resolves({ Attributes: { openid: { S: 'o1' }, userId: { S: 'u' } } });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.recordLogin(input)).rejects.toMatchObject({ code: 'INTERNAL' });
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
        ProjectionExpression: 'openid, userId, home, appid, kind, unionid, createdAt, lastLoginAt, loginCount, phone, nickname, avatarKey',
      });
    });

    it('reads a bound phone number from the row', async () => {
      const phone = { countryCode: '86', purePhoneNumber: '13800138000', phoneNumber: '13800138000', verifiedAt: NOW.toISOString() };
      ddbMock.on(GetItemCommand).resolves({ Item: { ...row(), phone: { M: { e164: { S: '+8613800138000' }, ...Object.fromEntries(Object.entries(phone).map(([k, v]) => [k, { S: v }])) } } } });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.findByOpenid('o1')).resolves.toMatchObject({ phone });
    });

    it('answers null for a row that holds only the fence of an undone first login', async () => {
      ddbMock.on(GetItemCommand).resolves({ Item: { openid: { S: 'o1' }, undoneLoginId: { S: 'L1' } } });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.findByOpenid('o1')).resolves.toBeNull();
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

  describe('Method: updateProfile', () => {
    it('sets one attribute on the user’s own row and returns the row as it now is', async () => {
      ddbMock.on(UpdateItemCommand).resolves({ Attributes: row({ nickname: 'Rita' }) });
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.updateProfile({ userId: '01NEWUSER', openid: 'o1' }, { nickname: '丽塔' })).resolves.toMatchObject({
        user: { nickname: '丽塔' },
        previous: 'Rita',
      });
      expect(ddbMock.commandCalls(UpdateItemCommand)[0]!.args[0].input).toEqual({
        TableName: 'users',
        Key: { openid: { S: 'o1' } },
        UpdateExpression: 'SET #field = :value',
        ConditionExpression: 'userId = :userId AND attribute_not_exists(deletedAt)',
        ExpressionAttributeNames: { '#field': 'nickname' },
        ExpressionAttributeValues: { ':userId': { S: '01NEWUSER' }, ':value': { S: '丽塔' } },
        ReturnValues: 'ALL_OLD',
      });
    });

    it('answers NOT_FOUND when the row is gone or is someone else’s', async () => {
      ddbMock.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.updateProfile({ userId: 'u', openid: 'o1' }, { avatarKey: 'avatars/u/x.png' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  describe('Method: undoLogin', () => {
    it('fences the login first, on a live row only, then reverts it only if it is still the row’s last write', async () => {
      ddbMock.on(UpdateItemCommand).resolves({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.undoLogin('o1', 'L1', true);
      const [fence, revert] = ddbMock.commandCalls(UpdateItemCommand).map((call) => call.args[0].input);
      expect(fence).toEqual({
        TableName: 'users',
        Key: { openid: { S: 'o1' } },
        UpdateExpression: 'SET undoneLoginId = :loginId',
        ConditionExpression: 'attribute_exists(userId) AND attribute_not_exists(deletedAt)',
        ExpressionAttributeValues: { ':loginId': { S: 'L1' } },
      });
      expect(revert).toEqual({
        TableName: 'users',
        Key: { openid: { S: 'o1' } },
        UpdateExpression: 'SET lastLoginAt = previousLoginAt REMOVE lastLoginId ADD loginCount :minusOne',
        ConditionExpression: 'lastLoginId = :loginId',
        ExpressionAttributeValues: { ':loginId': { S: 'L1' }, ':minusOne': { N: '-1' } },
      });
      expect(ddbMock.commandCalls(DeleteItemCommand)).toHaveLength(0);
    });

    it('makes no row for the fence when the row is gone and the login saw its write land (a deletion removed it)', async () => {
      ddbMock.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.undoLogin('o1', 'L1', true);
      expect(ddbMock.commandCalls(UpdateItemCommand)).toHaveLength(1);
    });

    it('fences a write of unknown fate with a row that holds only the fence and expires, when there is no live row', async () => {
      ddbMock.on(UpdateItemCommand).rejectsOnce(new ConditionalCheckFailedException({ message: 'no', $metadata: {} })).resolves({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.undoLogin('o1', 'L1', false);
      expect(ddbMock.commandCalls(UpdateItemCommand)[1]!.args[0].input).toMatchObject({
        UpdateExpression: 'SET undoneLoginId = :loginId, purgeAt = if_not_exists(purgeAt, :purgeAt)',
        ConditionExpression: 'attribute_not_exists(userId)',
      });
      expect(ddbMock.commandCalls(UpdateItemCommand)).toHaveLength(2);
    });

    it('when a later login wrote the row since, takes back only the count, through previousLoginId', async () => {
      const failed = new ConditionalCheckFailedException({ message: 'no', $metadata: {} });
      ddbMock.on(UpdateItemCommand).resolvesOnce({}).rejectsOnce(failed).resolvesOnce({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.undoLogin('o1', 'L1', true);
      expect(ddbMock.commandCalls(UpdateItemCommand)[2]!.args[0].input).toEqual({
        TableName: 'users',
        Key: { openid: { S: 'o1' } },
        UpdateExpression: 'SET previousLoginId = :none ADD loginCount :minusOne',
        ConditionExpression: 'previousLoginId = :loginId',
        ExpressionAttributeValues: { ':loginId': { S: 'L1' }, ':none': { S: '-' }, ':minusOne': { N: '-1' } },
      });
    });

    it('is done when neither revert finds the login: it never landed, was taken back already, or is two logins back', async () => {
      const failed = new ConditionalCheckFailedException({ message: 'no', $metadata: {} });
      ddbMock.on(UpdateItemCommand).resolvesOnce({}).rejectsOnce(failed).rejectsOnce(failed);
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.undoLogin('o1', 'L1', true)).resolves.toBeUndefined();
      expect(ddbMock.commandCalls(UpdateItemCommand)).toHaveLength(3);
    });

    it('stops after the first revert when it applies', async () => {
      ddbMock.on(UpdateItemCommand).resolves({});
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await repo.undoLogin('o1', 'L1', true);
      expect(ddbMock.commandCalls(UpdateItemCommand)).toHaveLength(2);
    });

    it('reports a failed fence as SERVICE_UNAVAILABLE and does not revert', async () => {
      ddbMock.on(UpdateItemCommand).rejects(new Error('down'));
      const repo = new DynamoUserRepository(new DynamoDBClient({}), 'users');
      await expect(repo.undoLogin('o1', 'L1', true)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(ddbMock.commandCalls(UpdateItemCommand)).toHaveLength(1);
    });
  });
});
