import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../lib/adapters/dynamodb';
import { createRedisClient } from '../../lib/adapters/redis';
import { loadRedisConfig } from '../../lib/config';
import { RedisPhoneCodeStore } from '../../lib/adapters/redis-phone-codes';
import { DynamoPhoneRepository } from '../../lib/adapters/dynamodb-phones';
import { DynamoUserRepository } from '../../lib/adapters/dynamodb-users';
import { PhoneService, type Holder, type PhoneInfo } from '../../lib/phone/service';
import { captureLogger } from '../support/log-capture';
import { FakePhoneVerifier } from '../support/fakes';
import { redisCommand, useLocalStack } from '../support/local';

/**
 * The phone adapters against dynalite and redis-server (through the Upstash gateway): the
 * conditional writes and the script as the real stores run them.
 */
describe('Phone binding stores (integration)', () => {
  const ctx = useLocalStack();
  let repo: DynamoPhoneRepository;
  let codes: RedisPhoneCodeStore;
  const T = Date.now();

  beforeAll(() => {
    Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });
    const dynamo = createDynamoClient({ endpoint: ctx.env.DYNAMODB_ENDPOINT, timeoutMs: 2000 });
    repo = new DynamoPhoneRepository(dynamo, { phones: ctx.env.PHONES_TABLE!, users: ctx.env.USERS_TABLE! });
    codes = new RedisPhoneCodeStore(createRedisClient(loadRedisConfig(ctx.env)), 'phone-test:', 'test-seal-key');
  });

  /** A user row as a login leaves it. */
  async function user(name: string): Promise<Holder> {
    const holder = { userId: `U-${name}-${randomBytes(3).toString('hex')}`, openid: `o-${name}-${randomBytes(3).toString('hex')}` };
    await ctx.stack.dynamo.client.send(
      new PutItemCommand({ TableName: ctx.env.USERS_TABLE, Item: { openid: { S: holder.openid }, userId: { S: holder.userId }, loginCount: { N: '1' } } }),
    );
    return holder;
  }
  const number = () => `+86139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
  const binding = { countryCode: '86', purePhoneNumber: '1', phoneNumber: '1', verifiedAt: new Date(T).toISOString() };
  const claimOf = async (phone: string) => (await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.PHONES_TABLE, Key: { phone: { S: phone } } }))).Item;

  describe('Class: DynamoPhoneRepository', () => {
    it('ends a binding’s row lease with its row write, also when the row holds the number already (bound again)', async () => {
      const users = new DynamoUserRepository(createDynamoClient({ endpoint: ctx.env.DYNAMODB_ENDPOINT, timeoutMs: 2000 }), ctx.env.USERS_TABLE!);
      const alice = await user('lease-row');
      const n = number();
      const row = async () => (await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: alice.openid } }, ConsistentRead: true }))).Item!;
      for (const round of [1, 2]) {
        const token = await users.lease(alice, Date.now() + 5000, n);
        expect((await row()).leasedPhones?.SS).toEqual([n]);
        await repo.claim(n, alice, T);
        await repo.bind(alice, n, binding, token);
        const after = await row();
        expect(after.leases, `round ${round}`).toBeUndefined();
        expect(after.leasedPhones, `round ${round}`).toBeUndefined();
        expect(after.lastBindingLease?.S, `round ${round}`).toBe(token);
      }
      // A failed binding that never claimed ends its lease and forgets the number.
      const other = number();
      const token = await users.lease(alice, Date.now() + 5000, other);
      await users.endLease(alice, token, other);
      expect((await row()).leases).toBeUndefined();
      expect((await row()).leasedPhones).toBeUndefined();
    });

    it('claims a free number, again for its holder, and tells anyone else who holds it', async () => {
      const [alice, bob] = [await user('alice'), await user('bob')];
      const n = number();
      await expect(repo.claim(n, alice, T)).resolves.toEqual({ claimed: true });
      await expect(repo.claim(n, alice, T + 1)).resolves.toEqual({ claimed: true });
      await expect(repo.claim(n, bob, T + 2)).resolves.toEqual({ claimed: false, holder: alice, claimedAt: T + 1 });
    });

    it('confirms a claim only when the holder’s row holds the number', async () => {
      const alice = await user('alice');
      const n = number();
      await repo.claim(n, alice, T);
      await expect(repo.confirms(alice, n)).resolves.toBeUndefined();
      await expect(repo.bind(alice, n, binding, 'lease-token')).resolves.toBeUndefined();
      await expect(repo.confirms(alice, n)).resolves.toBe(binding.verifiedAt);
      await expect(repo.confirms({ ...alice, userId: 'someone-else' }, n)).resolves.toBeUndefined();
    });

    it('binds onto the row and returns the number it replaced; a row that is gone is NOT_FOUND', async () => {
      const alice = await user('alice');
      const [n1, n2] = [number(), number()];
      await repo.bind(alice, n1, binding, 'lease-token');
      await expect(repo.bind(alice, n2, binding, 'lease-token')).resolves.toBe(n1);
      // A second copy of that write (a retry after a lost answer) still says what to free,
      await expect(repo.bind(alice, n2, binding, 'lease-token')).resolves.toBe(n1);
      // until it is freed: then the row no longer keeps that number.
      await repo.release(n1, alice);
      const { Item } = await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: alice.openid } } }));
      expect(Item?.replacedPhone).toBeUndefined();
      await expect(repo.bind({ userId: 'U-ghost', openid: 'o-ghost' }, n1, binding, 'lease-token')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('takes a claim over only while it stands as seen', async () => {
      const [alice, bob, carol] = [await user('alice'), await user('bob'), await user('carol')];
      const n = number();
      await repo.claim(n, alice, T);
      const seen = { holder: alice, claimedAt: T };
      await expect(repo.takeOver(n, seen, bob, T + 5)).resolves.toBe(true);
      // A second copy of the same take-over (the SDK's retry) still reads as won.
      await expect(repo.takeOver(n, seen, bob, T + 5)).resolves.toBe(true);
      await expect(repo.takeOver(n, seen, carol, T + 6)).resolves.toBe(false);
      expect((await claimOf(n))?.userId?.S).toBe(bob.userId);
    });

    it('unbinds and releases only what the user still holds', async () => {
      const [alice, bob] = [await user('alice'), await user('bob')];
      const n = number();
      await repo.claim(n, alice, T);
      await repo.bind(alice, n, binding, 'lease-token');
      await repo.unbind(bob, n);
      await repo.release(n, bob);
      await expect(repo.confirms(alice, n)).resolves.toBe(binding.verifiedAt);
      await repo.unbind(alice, n);
      await expect(repo.confirms(alice, n)).resolves.toBeUndefined();
      await repo.release(n, alice);
      expect(await claimOf(n)).toBeUndefined();
    });
  });

  it('finds every claim of a user by the byUser index, and no one else’s', async () => {
    const [alice, bob] = [await user('byuser-a'), await user('byuser-b')];
    const mine = [number(), number(), number()];
    for (const n of mine) expect(await repo.claim(n, alice, T)).toEqual({ claimed: true });
    const theirs = number();
    await repo.claim(theirs, bob, T);
    expect((await repo.claimsOf(alice.userId)).sort()).toEqual([...mine].sort());
    expect(await repo.claimsOf(bob.userId)).toEqual([theirs]);
  });

  describe('Class: RedisPhoneCodeStore', () => {
    it('tells a new code, this user’s stored result, and another user’s', async () => {
      const limit = { limit: 10, windowSeconds: 3600, now: T };
      await expect(codes.begin('c1', 'U1', limit)).resolves.toEqual({ state: 'new' });
      await expect(codes.remember('c1', 'U1', 'sealed-result', 60, { number: '+8613800000001', until: Date.now() + 1000, token: 't1' })).resolves.toBe('kept');
      await expect(codes.begin('c1', 'U1', limit)).resolves.toEqual({ state: 'done', sealed: 'sealed-result' });
      await expect(codes.begin('c1', 'U2', limit)).resolves.toEqual({ state: 'foreign' });
      await expect(codes.lookup('c1', 'U1')).resolves.toBe('sealed-result');
      await expect(codes.lookup('c1', 'U2')).resolves.toBeUndefined();
    });

    it('takes each binding’s lease with its result; a deletion closes them, learning which, until when and for which numbers, and no lease is taken after', async () => {
      const user = `U-lease-${randomBytes(3).toString('hex')}`;
      const until = Date.now() + 5000;
      const first = { number: '+8613800000011', until: until - 1000, token: `${until - 1000}:a` };
      const second = { number: '+8613800000012', until, token: `${until}:b` };
      await codes.remember('lc1', user, 'sealed-1', 60, first);
      await codes.remember('lc2', user, 'sealed-2', 60, second);
      // No number in the clear in Redis: sealed under the store's key.
      expect(JSON.stringify(await redisCommand(ctx.redis, 'ZRANGE', `phone-test:phone-leases:${user}`, '0', '-1'))).not.toMatch(/8613800000/);
      expect(await codes.closeLeases(user)).toEqual([first, second]);
      await expect(codes.remember('lc3', user, 'sealed-3', 60, { ...second, token: 'c' })).resolves.toBe('deleting');
      await expect(codes.begin('lc3', user, { limit: 10, windowSeconds: 60, now: T })).resolves.toEqual({ state: 'new' });
      expect(await codes.closeLeases(`U-none-${randomBytes(3).toString('hex')}`)).toEqual([]);
    });

    it('limits attempts per user over a sliding window, and says when the oldest one leaves it', async () => {
      const user = `U-limit-${randomBytes(3).toString('hex')}`;
      for (let i = 0; i < 3; i++) await expect(codes.begin(`l${i}`, user, { limit: 3, windowSeconds: 60, now: T + i * 1000 })).resolves.toEqual({ state: 'new' });
      await expect(codes.begin('l3', user, { limit: 3, windowSeconds: 60, now: T + 10_000 })).resolves.toEqual({ state: 'limited', retryAfterSeconds: 50 });
      await expect(codes.begin('l4', user, { limit: 3, windowSeconds: 60, now: T + 60_001 })).resolves.toEqual({ state: 'new' });
    });

    it('counts a code once however often it is tried (the kit’s retries after a 503)', async () => {
      const user = `U-retry-${randomBytes(3).toString('hex')}`;
      const limit = { limit: 2, windowSeconds: 60, now: T };
      for (let i = 0; i < 5; i++) await expect(codes.begin('same-code', user, limit)).resolves.toEqual({ state: 'new' });
      await expect(codes.begin('other-code', user, limit)).resolves.toEqual({ state: 'new' });
      await expect(codes.begin('third-code', user, limit)).resolves.toMatchObject({ state: 'limited' });
    });
  });

  it('lets exactly one of 10 users racing for one number win; the others answer PHONE_IN_USE', async () => {
    const racers = await Promise.all(Array.from({ length: 10 }, (_, i) => user(`racer${i}`)));
    const pure = `137${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    const phone: PhoneInfo = { countryCode: '86', purePhoneNumber: pure, phoneNumber: pure };
    const wechat = new FakePhoneVerifier(Object.fromEntries(racers.map((r, i) => [`race-${pure}-${i}`, { openid: r.openid, phone }])));
    const service = new PhoneService({ wechat, phones: repo, codes, leases: { lease: async () => 'lease-token', endLease: async () => {} }, writeBudgetMs: 4000, conflict: 'reject', limit: { limit: 10, windowSeconds: 3600 }, mask: () => '***' });
    const { logger } = captureLogger();

    const results = await Promise.allSettled(racers.map((r, i) => service.bind(r, `race-${pure}-${i}`, logger)));

    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [racers[i]!] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'PHONE_IN_USE' });
    expect((await claimOf(`+86${pure}`))?.userId?.S).toBe(won[0]!.userId);
    const confirmed = await Promise.all(racers.map((r) => repo.confirms(r, `+86${pure}`)));
    expect(confirmed.filter((verifiedAt) => verifiedAt !== undefined)).toHaveLength(1);
  });
});

describe('Class: DynamoUserRepository, undo against dynalite (integration)', () => {
  const ctx = useLocalStack();

  it('takes back a failed login’s count whether or not one other login wrote the row after it', async () => {
    Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });
    const users = new DynamoUserRepository(createDynamoClient({ endpoint: ctx.env.DYNAMODB_ENDPOINT, timeoutMs: 2000 }), ctx.env.USERS_TABLE!);
    const openid = `o-undo-${randomBytes(3).toString('hex')}`;
    const record = (loginId: string) => users.recordLogin({ openid, newUserId: `U-${loginId}`, loginId, now: new Date() });
    const count = async () => Number((await ctx.stack.dynamo.client.send(new GetItemCommand({ TableName: ctx.env.USERS_TABLE, Key: { openid: { S: openid } } }))).Item?.loginCount?.N);

    await record('L1'); // succeeded
    await record('L2'); // will fail
    await record('L3'); // another device, in between: succeeded
    await users.undoLogin(openid, 'L2', true);
    await users.undoLogin(openid, 'L2', true); // a second copy changes nothing
    expect(await count()).toBe(2);

    await record('L4'); // fails, nothing after it
    await users.undoLogin(openid, 'L4', true);
    expect(await count()).toBe(2);
    // A late copy of the undone write is fenced off.
    await expect(record('L4')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(await count()).toBe(2);
  });
});
