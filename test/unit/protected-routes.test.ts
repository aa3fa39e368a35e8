import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors';
import { requireUser, type AuthorizedEvent } from '../../lib/http/auth-context';
import { parseLogoutRequest } from '../../lib/sessions/logout-request';
import { getProfile } from '../../lib/users/profile';
import type { Identity, User, UserReader } from '../../lib/users/ports';

const withContext = (lambda: unknown) => ({ requestContext: { authorizer: { lambda } } }) as unknown as AuthorizedEvent;

describe('Function: requireUser', () => {
  it('returns the identity the authorizer passed', () => {
    expect(requireUser(withContext({ sessionId: 's', userId: 'u', openid: 'o', unionid: 'n' }))).toEqual({
      sessionId: 's',
      userId: 'u',
      openid: 'o',
      unionid: 'n',
    });
  });

  it('returns the app the session was opened from, and leaves out one that is not a string', () => {
    expect(requireUser(withContext({ sessionId: 's', userId: 'u', openid: 'o', appid: 'wx1' }))).toEqual({ sessionId: 's', userId: 'u', openid: 'o', appid: 'wx1' });
    expect(requireUser(withContext({ sessionId: 's', userId: 'u', openid: 'o', appid: 7 }))).toEqual({ sessionId: 's', userId: 'u', openid: 'o' });
  });

  it.each([
    ['no authorizer at all', { requestContext: {} }],
    ['an empty context', withContext({})],
    ['a context without openid', withContext({ sessionId: 's', userId: 'u' })],
    ['a context with a non-string userId', withContext({ sessionId: 's', userId: 1, openid: 'o' })],
  ])('answers UNAUTHORIZED for %s', (_name, event) => {
    expect(() => requireUser(event as AuthorizedEvent)).toThrow(expect.objectContaining({ code: 'UNAUTHORIZED', status: 401 }));
  });
});

describe('Function: parseLogoutRequest', () => {
  const event = (body: string | undefined, headers: Record<string, string> = {}) => ({ body, headers, isBase64Encoded: false });

  it.each([
    ['no body', undefined, false],
    ['an empty body', '', false],
    ['an empty object', '{}', false],
    ['all: false', '{"all":false}', false],
    ['all: true', '{"all":true}', true],
  ])('reads %s', (_name, body, all) => {
    expect(parseLogoutRequest(event(body, { 'content-type': 'application/json' }))).toEqual({ all });
  });

  it.each([
    ['all as a string', '{"all":"yes"}'],
    ['all as a number', '{"all":1}'],
    ['invalid JSON', '{"all":'],
    ['an array', '[true]'],
  ])('rejects %s with INVALID_REQUEST', (_name, body) => {
    expect(() => parseLogoutRequest(event(body))).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
  });
});

describe('Function: getProfile', () => {
  const user: User = { userId: 'u1', openid: 'o1', createdAt: 'c', lastLoginAt: 'l', loginCount: 2 };
  const reader = (found: User | null, identities: Identity[] = []): UserReader => ({ findByOpenid: async () => found, identitiesOf: async () => identities });

  it('shows the profile without the openid', async () => {
    await expect(getProfile(reader(user), { userId: 'u1', openid: 'o1', appid: 'wxA' })).resolves.toEqual({
      userId: 'u1',
      createdAt: 'c',
      lastLoginAt: 'l',
      loginCount: 2,
      apps: [{ appid: 'wxA', kind: 'miniprogram' }],
    });
  });

  it('reads the home row for a second app’s session, and sums the logins and lists the apps of every identity (the home row read consistently)', async () => {
    const home: User = { ...user, openid: 'oHome', appid: 'wxA', kind: 'miniprogram', loginCount: 5, lastLoginAt: '2026-12-01' };
    let asked = '';
    const users: UserReader = {
      findByOpenid: async (openid) => ((asked = openid), home),
      // The index lags: the home row's entry still shows 4 logins.
      identitiesOf: async () => [
        { openid: 'oHome', appid: 'wxA', kind: 'miniprogram', createdAt: 'c', lastLoginAt: '2026-11-30', loginCount: 4 },
        { openid: 'oSecond', appid: 'wxB', kind: 'miniprogram', createdAt: 'c', lastLoginAt: '2026-12-03', loginCount: 2 },
      ],
    };
    const profile = await getProfile(users, { userId: 'u1', openid: 'oSecond', home: 'oHome', appid: 'wxB' });
    expect(asked).toBe('oHome');
    expect(profile).toMatchObject({ loginCount: 7, lastLoginAt: '2026-12-03', apps: [{ appid: 'wxA', kind: 'miniprogram' }, { appid: 'wxB', kind: 'miniprogram' }] });
    expect(JSON.stringify(profile)).not.toContain('oSecond');
    expect(JSON.stringify(profile)).not.toContain('oHome');
  });

  it('includes unionid when known', async () => {
    await expect(getProfile(reader({ ...user, unionid: 'n1' }), { userId: 'u1', openid: 'o1' })).resolves.toMatchObject({ unionid: 'n1' });
  });

  it.each([
    ['the row is gone', null],
    ['the row belongs to another userId', { ...user, userId: 'u2' }],
  ])('answers NOT_FOUND when %s', async (_name, found) => {
    const err = await getProfile(reader(found), { userId: 'u1', openid: 'o1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });
});
