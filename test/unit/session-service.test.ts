import { describe, expect, it, vi } from 'vitest';
import { hashToken, newToken } from '../../lib/crypto';
import { AppError } from '../../lib/errors';
import { SessionService } from '../../lib/sessions/service';
import type { SessionEnder, SessionIdentity, SessionPurge, SessionRevoker, SessionSummary, SessionVerifier } from '../../lib/sessions/ports';

const summary = (createdAt: string, id: string): SessionSummary => ({ id, current: false, createdAt, lastUsedAt: createdAt, expiresAt: createdAt, maxExpiresAt: createdAt });
const noList = { sessionsOf: vi.fn(async () => []), endSession: vi.fn(async () => false) };

function setup(live: Record<string, SessionIdentity> = {}) {
  const store = {
    touch: vi.fn<SessionVerifier['touch']>(async (sessionId) => live[sessionId] ?? null),
    revoke: vi.fn<SessionRevoker['revoke']>(async () => true),
    revokeAll: vi.fn<SessionRevoker['revokeAll']>(async () => 3),
    sessionsOf: vi.fn<SessionPurge['sessionsOf']>(async () => [summary('2026-12-03T00:00:00.000Z', 'new'), summary('2026-12-01T00:00:00.000Z', 'old')]),
    endSession: vi.fn<SessionEnder['endSession']>(async (_userId, id) => id === 'AAAAAAAAAAAAAAAAAAAAAA'),
  };
  const service = new SessionService({ store, ttlSeconds: 60, now: () => 1_000_000 });
  return { service, store };
}

describe('Class: SessionService', () => {
  describe('Method: authorize', () => {
    const token = newToken();
    const identity = { sessionId: hashToken(token), userId: 'u1', openid: 'o1' };

    it('passes a live session, renewing it for the TTL in one store call', async () => {
      const { service, store } = setup({ [identity.sessionId]: identity });
      await expect(service.authorize(`Bearer ${token}`)).resolves.toEqual({ allowed: true, identity });
      expect(store.touch).toHaveBeenCalledTimes(1);
      expect(store.touch).toHaveBeenCalledWith(identity.sessionId, 1_000_000, 60_000);
    });

    it('hands on the app the session was opened from, else the deployment’s app, else none', async () => {
      const store = (stored: SessionIdentity) => ({ touch: vi.fn(async () => stored), revoke: vi.fn(), revokeAll: vi.fn(async () => 0), ...noList });
      const authorize = (stored: SessionIdentity, defaultAppId?: string) =>
        new SessionService({ store: store(stored), ttlSeconds: 60, ...(defaultAppId ? { defaultAppId } : {}) }).authorize(`Bearer ${token}`);
      await expect(authorize({ ...identity, appid: 'wx-own' }, 'wx-default')).resolves.toEqual({ allowed: true, identity: { ...identity, appid: 'wx-own' } });
      await expect(authorize(identity, 'wx-default')).resolves.toEqual({ allowed: true, identity: { ...identity, appid: 'wx-default' } });
      await expect(authorize(identity)).resolves.toEqual({ allowed: true, identity });
    });

    it('accepts the scheme in any case', async () => {
      const { service } = setup({ [identity.sessionId]: identity });
      await expect(service.authorize(`bearer ${token}`)).resolves.toMatchObject({ allowed: true });
    });

    it('looks the token up by its hash, never by the token itself', async () => {
      const { service, store } = setup();
      await service.authorize(`Bearer ${token}`);
      expect(JSON.stringify(store.touch.mock.calls)).not.toContain(token);
    });

    it.each([
      ['no header', undefined, 'missing'],
      ['an empty header', '', 'missing'],
      ['another scheme', `Basic ${token}`, 'malformed'],
      ['no scheme', token, 'malformed'],
      ['a short token', `Bearer ${token.slice(1)}`, 'malformed'],
      ['a long token', `Bearer ${token}A`, 'malformed'],
      ['a token with foreign characters', `Bearer ${token.slice(1)}+`, 'malformed'],
      ['two tokens', `Bearer ${token} ${token}`, 'malformed'],
    ])('refuses %s without asking the store', async (_name, header, reason) => {
      const { service, store } = setup({ [identity.sessionId]: identity });
      await expect(service.authorize(header)).resolves.toEqual({ allowed: false, reason });
      expect(store.touch).not.toHaveBeenCalled();
    });

    it('refuses an unknown, expired or revoked token', async () => {
      const { service } = setup();
      await expect(service.authorize(`Bearer ${newToken()}`)).resolves.toEqual({ allowed: false, reason: 'unknown' });
    });

    it('refuses a token with one character changed', async () => {
      const { service } = setup({ [identity.sessionId]: identity });
      const tampered = (token[0] === 'A' ? 'B' : 'A') + token.slice(1);
      await expect(service.authorize(`Bearer ${tampered}`)).resolves.toEqual({ allowed: false, reason: 'unknown' });
    });

    it('lets a store failure through, so the authorizer can refuse to decide rather than deny', async () => {
      const { service, store } = setup();
      store.touch.mockRejectedValueOnce(new AppError('SERVICE_UNAVAILABLE'));
      await expect(service.authorize(`Bearer ${token}`)).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });
  });

  describe('Method: logout', () => {
    it('revokes only the presented session by default', async () => {
      const { service, store } = setup();
      await expect(service.logout({ sessionId: 's1', userId: 'u1' }, false)).resolves.toEqual({ revoked: 1 });
      expect(store.revoke).toHaveBeenCalledWith('s1', 'u1');
      expect(store.revokeAll).not.toHaveBeenCalled();
    });

    it('revokes every session of the user with all', async () => {
      const { service, store } = setup();
      await expect(service.logout({ sessionId: 's1', userId: 'u1' }, true)).resolves.toEqual({ revoked: 3 });
      expect(store.revokeAll).toHaveBeenCalledWith('u1');
      expect(store.revoke).not.toHaveBeenCalled();
    });
  });

  describe('Methods: list and end', () => {
    const me = { sessionId: 'h1', userId: 'u1' };

    it('lists the user’s sessions as the store orders them (newest first), asking it for this user’s and naming the caller’s', async () => {
      const { service, store } = setup();
      expect((await service.list(me)).map((s) => s.id)).toEqual(['new', 'old']);
      expect(store.sessionsOf).toHaveBeenCalledWith('u1', 'h1', 1_000_000);
    });

    it('ends a session of the user’s by its public id, and answers SESSION_NOT_FOUND for any other', async () => {
      const { service, store } = setup();
      await expect(service.end(me, 'AAAAAAAAAAAAAAAAAAAAAA')).resolves.toBeUndefined();
      expect(store.endSession).toHaveBeenCalledWith('u1', 'AAAAAAAAAAAAAAAAAAAAAA');
      await expect(service.end(me, 'BBBBBBBBBBBBBBBBBBBBBB')).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND', status: 404 });
    });

    it('refuses an id that cannot be one before asking the store', async () => {
      const { service, store } = setup();
      for (const id of [undefined, '', 'short', 'A'.repeat(23), 'AAAAAAAAAAAAAAAAAAAA/A']) {
        await expect(service.end(me, id)).rejects.toMatchObject({ code: 'INVALID_REQUEST', status: 400 });
      }
      expect(store.endSession).not.toHaveBeenCalled();
    });
  });
});
