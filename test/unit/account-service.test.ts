import { describe, expect, it } from 'vitest';
import { open } from '../../lib/crypto';
import { SESSION_KEY_PURPOSE } from '../../lib/login/service';
import { AccountService } from '../../lib/account/service';
import { exportAccount } from '../../lib/account/export';
import { AppError } from '../../lib/errors';
import type { BindingLease } from '../../lib/phone/service';
import type { AccountRow } from '../../lib/users/ports';
import { captureLogger } from '../support/log-capture';

/**
 * The account's data rights with in-memory ports that record every call in order and fail on
 * demand: the order of a deletion, what a retry resumes, and what WeChat's events touch.
 */
const ALICE = { userId: 'U-alice', openid: 'o-alice' };

function world(row: AccountRow | null) {
  const calls: string[] = [];
  const failing = new Set<string>();
  const state = { row, files: ['avatars/U-alice/a.png', 'avatars/U-alice/b.jpg'], claims: new Set(['+8613800138000']), sessions: 2, published: 0, leaseUntil: 0, bindingLeases: [] as BindingLease[], lastBindingLease: undefined as string | undefined, secondaries: [] as string[], tombstoned: [] as string[], resealed: [] as { sessionId: string; sealed: string }[] };
  const step = async (name: string, effect: () => void = () => {}) => {
    calls.push(name);
    if (failing.has(name)) throw new AppError('SERVICE_UNAVAILABLE', `${name} failed`);
    effect();
  };
  const service = new AccountService({
    wechat: () => ({ code2Session: async (code: string) => ({ openid: code.startsWith('alice') ? ALICE.openid : 'o-mallory', sessionKey: 'sk', unionid: undefined }) }) as never,
    users: {
      readAccount: async () => (await step('readAccount'), state.row ? structuredClone(state.row) : null),
      markDeleting: async (owner) => (await step('markDeleting'), state.row && state.row.userId === owner.userId && !state.row.deletedAt ? { leaseUntil: state.leaseUntil, lastBindingLease: state.lastBindingLease } : null),
      tombstone: (owner) =>
        state.secondaries.includes(owner.openid)
          ? step(`tombstone ${owner.openid}`, () => state.tombstoned.push(owner.openid))
          : step('tombstone', () => state.row && state.row.userId === owner.userId && (state.row = { userId: owner.userId, openid: owner.openid, createdAt: '', lastLoginAt: '', loginCount: 0, deletedAt: 'now' })),
      deleteTombstone: (owner) =>
        state.secondaries.includes(owner.openid)
          ? step(`deleteTombstone ${owner.openid}`, () => (state.secondaries = state.secondaries.filter((o) => o !== owner.openid)))
          : step('deleteTombstone', () => state.row?.deletedAt && (state.row = null)),
      clearProfile: () => step('clearProfile', () => state.row && (delete state.row.nickname, delete state.row.avatarKey)),
      identityRows: async () => (await step('identityRows'), state.secondaries.map((openid) => ({ openid, secondary: true, deleted: state.tombstoned.includes(openid) }))),
      releaseUnionids: () => step('releaseUnionids'),
    },
    phones: {
      release: (number) => step(`release ${number}`, () => state.claims.delete(number)),
      claimsOf: async () => (await step('claimsOf'), [...state.claims]),
      unbind: (_holder, number) => step(`unbind ${number}`, () => state.row && delete state.row.phoneE164),
    },
    avatars: {
      list: async (prefix) => (await step('list'), state.files.filter((f) => f.startsWith(prefix))),
      delete: (keys) => step('deleteFiles', () => (state.files = state.files.filter((f) => !keys.includes(f)))),
      urlOf: (key) => `https://img.example.com/${key}`,
    },
    sessions: {
      purgeUser: async () => (await step('purge', () => (state.sessions = 0)), 2),
      sessionsOf: async () => [],
      loginLog: async () => [],
      resealKey: async (sessionId: string, sealed: string) => void (await step('resealKey'), state.resealed.push({ sessionId, sealed })),
      revokeAppSessions: async (_userId, appid) => (await step(`revokeAppSessions ${appid}`), 1),
    },
    phoneKeys: (userId) => ({ index: `wxlogin:user-phone-codes:${userId}`, others: [] }),
    phoneLeases: { closeLeases: async () => (await step('closeLeases'), state.bindingLeases) },
    events: { publish: (type) => step(`publish ${type}`, () => state.published++) },
  });
  return { service, calls, failing, state, ...captureLogger() };
}

const fullRow = (): AccountRow => ({ ...ALICE, createdAt: 't0', lastLoginAt: 't1', loginCount: 3, nickname: '丽塔', avatarKey: 'avatars/U-alice/b.jpg', phoneE164: '+8613800138000' });

describe('Class: AccountService — deleting', () => {
  it('goes in the order any interruption can resume from: the mark, claims and files, tombstone, event, Redis, tombstone gone', async () => {
    const { service, calls, state, logger } = world(fullRow());
    await service.deleteWithCode(ALICE, 'alice.2', logger);
    expect(calls).toEqual(['markDeleting', 'closeLeases', 'readAccount', 'claimsOf', 'release +8613800138000', 'list', 'deleteFiles', 'tombstone', 'identityRows', 'releaseUnionids', 'publish UserDeleted', 'purge', 'deleteTombstone']);
    expect(state).toMatchObject({ row: null, files: [], sessions: 0, published: 1 });
    expect(state.claims.size).toBe(0);
  });

  it.each([
    ['an upload’s lease on the row', 'row'],
    ['a binding’s lease in Redis', 'redis'],
  ] as const)('waits for %s to end, then also frees the number a binding leased and any claim under the user', async (_name, lease) => {
    const { service, calls, state, logger } = world(fullRow());
    const until = Date.now() + 150;
    if (lease === 'row') state.leaseUntil = until;
    state.bindingLeases = [{ number: '+8613900000001', until: lease === 'redis' ? until : 0, token: 'running' }];
    state.claims.add('+8613900000001').add('+8613700000002');
    const started = Date.now();
    await service.deleteWithCode(ALICE, 'alice.2', logger);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(calls.slice(0, 7)).toEqual(['markDeleting', 'closeLeases', 'readAccount', 'claimsOf', 'release +8613800138000', 'release +8613900000001', 'release +8613700000002']);
    expect(state.claims.size).toBe(0);
  });

  it('answers 503 with Retry-After when a writer’s lease outlasts what the function may wait', async () => {
    const { service, calls, state, logger } = world(fullRow());
    state.bindingLeases = [{ number: '+8613900000001', until: Date.now() + 60_000, token: 'running' }];
    await expect(service.deleteWithCode(ALICE, 'alice.2', logger)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 60 });
    expect(calls).toEqual(['markDeleting', 'closeLeases']);
  });

  it('does not wait for a binding whose row write is done (the row names its lease), but still frees its number', async () => {
    const { service, state, logger } = world(fullRow());
    state.bindingLeases = [{ number: '+8613900000001', until: Date.now() + 60_000, token: 'done' }];
    state.lastBindingLease = 'done';
    state.claims.add('+8613900000001');
    await service.deleteWithCode(ALICE, 'alice.2', logger);
    expect(state.claims.size).toBe(0);
  });

  it('refuses another WeChat user’s code with REAUTH_FAILED and touches nothing', async () => {
    const { service, calls, state, logger, entries } = world(fullRow());
    await expect(service.deleteWithCode(ALICE, 'mallory.1', logger)).rejects.toMatchObject({ code: 'REAUTH_FAILED', status: 403 });
    expect(calls).toEqual([]);
    expect(state.row).toEqual(fullRow());
    expect(JSON.stringify(entries())).not.toContain('o-mallory');
  });

  it('keeps the fresh code’s session_key on the session first, sealed under its token, so open data decrypts if the deletion then fails', async () => {
    const { service, failing, state, logger, calls } = world(fullRow());
    failing.add('tombstone');
    const token = 'T'.repeat(43);
    await expect(service.deleteWithCode(ALICE, 'alice.2', logger, { sessionId: 's-1', token })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(state.resealed).toHaveLength(1);
    expect(state.resealed[0]!.sessionId).toBe('s-1');
    expect(open(SESSION_KEY_PURPOSE, token, state.resealed[0]!.sealed)).toBe('sk');
    expect(calls.indexOf('resealKey')).toBeLessThan(calls.indexOf('tombstone'));
    // A code of another WeChat user replaces nothing.
    await expect(service.deleteWithCode(ALICE, 'mallory.1', logger, { sessionId: 's-1', token })).rejects.toMatchObject({ code: 'REAUTH_FAILED' });
    expect(state.resealed).toHaveLength(1);
  });

  it.each(['release +8613800138000', 'list', 'deleteFiles', 'tombstone', 'publish UserDeleted', 'purge', 'deleteTombstone'])(
    'resumes after a failure at "%s": the retry finishes the deletion, with UserDeleted published at least once',
    async (failed) => {
      const { service, failing, state, logger } = world(fullRow());
      failing.add(failed);
      await expect(service.deleteWithCode(ALICE, 'alice.2', logger)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      // Until the purge, the sessions are alive: the client's retry reaches the route again.
      if (['release +8613800138000', 'list', 'deleteFiles', 'tombstone', 'publish UserDeleted', 'purge'].includes(failed)) expect(state.sessions).toBe(2);
      // Nothing personal survives a failure after the tombstone.
      if (['publish UserDeleted', 'purge', 'deleteTombstone'].includes(failed)) expect(state.row).toMatchObject({ deletedAt: 'now' });
      if (['publish UserDeleted', 'purge', 'deleteTombstone'].includes(failed)) expect(state.row?.nickname).toBeUndefined();
      failing.clear();
      await service.deleteWithCode(ALICE, 'alice.3', logger);
      expect(state).toMatchObject({ row: null, files: [], sessions: 0 });
      expect(state.claims.size).toBe(0);
      expect(state.published).toBeGreaterThanOrEqual(1);
    },
  );

  it('finishes a tombstone without touching claims or files again (the login’s path)', async () => {
    const { service, calls, state, logger } = world({ ...ALICE, createdAt: '', lastLoginAt: '', loginCount: 0, deletedAt: 'then' });
    await service.finish(ALICE, logger);
    expect(calls).toEqual(['identityRows', 'releaseUnionids', 'publish UserDeleted', 'purge', 'deleteTombstone']);
    expect(state.row).toBeNull();
  });

  it('takes every identity with the user: the others tombstoned after the home row, the unionid freed, then every tombstone deleted after the purge', async () => {
    const { service, calls, state, logger } = world(fullRow());
    state.secondaries = ['o-alice-second', 'o-alice-third'];
    await service.deleteWithCode(ALICE, 'alice.2', logger);
    const after = calls.slice(calls.indexOf('tombstone'));
    expect(after).toEqual([
      'tombstone',
      'identityRows',
      'tombstone o-alice-second',
      'tombstone o-alice-third',
      'releaseUnionids',
      'publish UserDeleted',
      'purge',
      'deleteTombstone',
      'deleteTombstone o-alice-second',
      'deleteTombstone o-alice-third',
    ]);
    expect(state).toMatchObject({ row: null, secondaries: [] });
  });

  it('resumes an interrupted deletion at each step across identities: every retry ends with nothing left', async () => {
    for (const stop of ['tombstone o-alice-second', 'releaseUnionids', 'publish UserDeleted', 'purge', 'deleteTombstone o-alice-second']) {
      const { service, failing, state, logger } = world(fullRow());
      state.secondaries = ['o-alice-second'];
      failing.add(stop);
      await expect(service.deleteWithCode(ALICE, 'alice.2', logger)).rejects.toBeInstanceOf(AppError);
      failing.clear();
      // The retry: the client's (the token still works until the purge) or the next login's.
      await (state.row?.deletedAt ? service.finish(ALICE, logger) : service.deleteWithCode(ALICE, 'alice.3', logger));
      expect(state, stop).toMatchObject({ row: null, secondaries: [], sessions: 0 });
    }
  });
});

describe('Class: AccountService — WeChat’s authorization events', () => {
  it('a revoked phone comes off the row before its claim is released; the profile stays', async () => {
    const { service, calls, state, logger } = world(fullRow());
    await service.authorizationRevoked(ALICE.openid, { phone: true, profile: false }, logger);
    expect(calls).toEqual(['readAccount', 'unbind +8613800138000', 'release +8613800138000']);
    expect(state.row).toMatchObject({ nickname: '丽塔', avatarKey: 'avatars/U-alice/b.jpg' });
    expect(state.row?.phoneE164).toBeUndefined();
  });

  it('a revoked or cleaned-up profile clears the nickname and avatar and deletes the files; the phone stays', async () => {
    for (const run of [(s: AccountService, log: never) => s.authorizationRevoked(ALICE.openid, { phone: false, profile: true }, log), (s: AccountService, log: never) => s.infoModified(ALICE.openid, log)]) {
      const { service, state, logger } = world(fullRow());
      await run(service, logger as never);
      expect(state.row).toMatchObject({ phoneE164: '+8613800138000' });
      expect(state.row?.nickname).toBeUndefined();
      expect(state.files).toEqual([]);
    }
  });

  it('does nothing for an openid it does not know, or a user being deleted', async () => {
    for (const row of [null, { ...ALICE, createdAt: '', lastLoginAt: '', loginCount: 0, deletedAt: 'then' }]) {
      const { service, calls, logger } = world(row);
      await service.infoModified(ALICE.openid, logger);
      await service.authorizationRevoked(ALICE.openid, { phone: true, profile: true }, logger);
      expect(calls.filter((c) => c !== 'readAccount')).toEqual([]);
    }
    const { service, calls, logger } = world(null);
    await service.accountCancelled(ALICE.openid, logger);
    expect(calls).toEqual(['readAccount']);
  });

  it('a cancellation deletes the account as POST /user/delete does, without a code', async () => {
    const { service, state, logger } = world(fullRow());
    await service.accountCancelled(ALICE.openid, logger);
    expect(state).toMatchObject({ row: null, files: [], sessions: 0, published: 1 });
  });
});

describe('Function: exportAccount', () => {
  const sessions = {
    purgeUser: async () => 0,
    sessionsOf: async () => [{ id: 'p1', current: true, createdAt: 'c', lastUsedAt: 'u', expiresAt: 'e', maxExpiresAt: 'm' }],
    loginLog: async () => [{ at: 'c', result: 'success', session: 'p1' }],
  };
  it('answers the row and the sessions’ times, the avatar as its URL', async () => {
    const out = await exportAccount({ users: { readAccount: async () => fullRow(), identitiesOf: async () => [] }, sessions, avatarUrlOf: (k) => `https://img/${k}`, now: () => new Date('2026-11-25T00:00:00Z') }, { ...ALICE, sessionId: 's1' });
    expect(out).toMatchObject({ exportedAt: '2026-11-25T00:00:00.000Z', userId: 'U-alice', nickname: '丽塔', avatarUrl: 'https://img/avatars/U-alice/b.jpg', sessions: [{ current: true }], logins: [{ result: 'success', session: 'p1' }] });
    expect(out.identities).toEqual([expect.objectContaining({ openid: ALICE.openid })]);
  });

  it('reads the home row for a second app’s session, and lists every identity: the home row as read, then the index’s others', async () => {
    let asked = '';
    const identitiesOf = async () => [
      { openid: ALICE.openid, createdAt: 'stale', lastLoginAt: 'stale', loginCount: 0 },
      { openid: 'o-alice-second', appid: 'wxB', kind: 'miniprogram', createdAt: 'c2', lastLoginAt: 'l2', loginCount: 2 },
    ];
    const out = await exportAccount({ users: { readAccount: async (openid: string) => ((asked = openid), fullRow()), identitiesOf }, sessions }, { ...ALICE, openid: 'o-alice-second', home: ALICE.openid, sessionId: 's1' });
    expect(asked).toBe(ALICE.openid);
    expect(out.identities.map((identity) => identity.openid)).toEqual([ALICE.openid, 'o-alice-second']);
    expect(out.identities[0]!.createdAt).not.toBe('stale');
  });

  it('answers NOT_FOUND for a tombstone or another identity’s row', async () => {
    for (const row of [{ ...fullRow(), deletedAt: 'then' }, { ...fullRow(), userId: 'U-other' }]) {
      await expect(exportAccount({ users: { readAccount: async () => row, identitiesOf: async () => [] }, sessions }, { ...ALICE, sessionId: 's1' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
  });
});
