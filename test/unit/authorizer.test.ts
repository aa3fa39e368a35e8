import { afterEach, describe, expect, it, vi } from 'vitest';
import { hashToken, newToken } from '../../lib/crypto';
import { SessionService } from '../../lib/sessions/service';
import type { SessionIdentity } from '../../lib/sessions/ports';
import { captureLogger } from '../support/log-capture';

// The authorizer builds its dependencies at module load (initOnce); the test decides what that
// build returns or throws, and loads the module afresh for each case as a new container would.
const control = vi.hoisted(() => ({ compose: (): unknown => undefined }));
vi.mock('../../lib/sessions/compose', () => ({ composeSessions: () => control.compose() }));
vi.mock('../../lib/secrets', () => ({ withParameters: async (env: unknown) => ({ env, secrets: [] }) }));

/**
 * Loads the authorizer afresh, with the error classes of that same module graph (a class from
 * before vi.resetModules is another class to the fresh module's `instanceof`).
 */
async function coldStart() {
  vi.resetModules();
  const authorizer = await import('../../functions/authorizer');
  const { AppError } = await import('../../lib/errors');
  return { ...authorizer, AppError };
}

function setup(touch: (sessionId: string) => Promise<SessionIdentity | null>) {
  const log = captureLogger();
  const store = { touch: vi.fn(touch), revoke: vi.fn(), revokeAll: vi.fn(), sessionsOf: vi.fn(), endSession: vi.fn() };
  control.compose = () => ({ logger: log.logger, metrics: undefined, sessions: new SessionService({ store, ttlSeconds: 60 }) });
  return { log, store };
}

const event = (authorization?: string) =>
  ({ headers: authorization === undefined ? {} : { authorization }, requestContext: { requestId: 'r1' }, routeKey: 'GET /user/me' }) as never;

describe('Function: authorizer handler', () => {
  const token = newToken();
  const identity: SessionIdentity = { sessionId: hashToken(token), userId: 'u1', openid: 'o1' };

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('passes a live session to the route as its context', async () => {
    setup(async (id) => (id === identity.sessionId ? identity : null));
    const { handler } = await coldStart();
    await expect(handler(event(`Bearer ${token}`))).resolves.toEqual({
      isAuthorized: true,
      context: { sessionId: identity.sessionId, userId: 'u1', openid: 'o1' },
    });
  });

  it('denies an unknown token (API Gateway answers 403)', async () => {
    const { log } = setup(async () => null);
    const { handler } = await coldStart();
    await expect(handler(event(`Bearer ${newToken()}`))).resolves.toEqual({ isAuthorized: false });
    expect(log.entries()).toContainEqual(expect.objectContaining({ level: 'info', message: 'authorization denied', reason: 'unknown' }));
  });

  it('throws, never denies or allows, while the session store is unreachable, and logs it at error level', async () => {
    const cause = Object.assign(new Error(`connect ETIMEDOUT while sending ${token}`), { code: 'ETIMEDOUT' });
    let AppError: Awaited<ReturnType<typeof coldStart>>['AppError'];
    const { log } = setup(async () => {
      throw new AppError('SERVICE_UNAVAILABLE', 'session store request failed', { cause });
    });
    const loaded = await coldStart();
    AppError = loaded.AppError;
    const { handler, AuthorizerUnavailableError } = loaded;

    const thrown = await handler(event(`Bearer ${token}`)).then(
      (result) => ({ result }),
      (err: unknown) => err,
    );
    expect(thrown).toBeInstanceOf(AuthorizerUnavailableError);
    // Lambda prints what a function throws: nothing of the request or the cause in it.
    expect(String((thrown as Error).message)).not.toMatch(/ETIMEDOUT|Bearer/);
    expect(JSON.stringify(thrown)).not.toContain(token);
    expect(log.entries()).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'session store unavailable: not authorizing, API Gateway answers 500', errorCode: 'SERVICE_UNAVAILABLE', cause: 'Error ETIMEDOUT' }),
    );
    expect(log.lines.join('\n')).not.toContain(token);
  });

  it('throws on an unexpected failure as well: nothing passes unverified', async () => {
    const { log } = setup(async () => {
      throw new TypeError('a bug');
    });
    const { handler, AuthorizerUnavailableError } = await coldStart();
    await expect(handler(event(`Bearer ${token}`))).rejects.toBeInstanceOf(AuthorizerUnavailableError);
    expect(log.entries()).toContainEqual(expect.objectContaining({ level: 'error', message: 'internal error', errorName: 'TypeError' }));
  });

  it('still denies what cannot be a token while the store is down: that answer needs no store', async () => {
    const { store } = setup(async () => {
      throw new Error('the store is down');
    });
    const { handler } = await coldStart();
    await expect(handler(event('Basic abc'))).resolves.toEqual({ isAuthorized: false });
    await expect(handler(event('Bearer not-a-token'))).resolves.toEqual({ isAuthorized: false });
    expect(store.touch).not.toHaveBeenCalled();
  });

  it.each([
    ['a configuration error', async () => new (await import('../../lib/config')).ConfigError('UPSTASH_REDIS_REST_URL is required'), 'INTERNAL'],
    ['SSM being unreachable', async () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'SERVICE_UNAVAILABLE'],
  ])('throws when it cannot initialise (%s), and initialises on a later invocation', async (_name, failure, errorCode) => {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    control.compose = async () => {
      throw await failure();
    };
    const { handler, AuthorizerUnavailableError } = await coldStart();
    await expect(handler(event(`Bearer ${token}`))).rejects.toBeInstanceOf(AuthorizerUnavailableError);
    const printed = stdout.mock.calls.map(([chunk]) => String(chunk)).join('');
    expect(JSON.parse(printed)).toMatchObject({ level: 'error', message: 'function initialisation failed', errorCode });

    // The same container once the cause is gone: initOnce tries again.
    setup(async (id) => (id === identity.sessionId ? identity : null));
    await expect(handler(event(`Bearer ${token}`))).resolves.toMatchObject({ isAuthorized: true });
  });
});
