import { afterEach, describe, expect, it, vi } from 'vitest';
import { DynamoUserRepository } from '../../lib/adapters/dynamodb-users';
import { httpHandler } from '../../lib/http/handler';
import { json } from '../../lib/http/respond';
import { composeLogin } from '../../lib/login/compose';
import { clientNetwork, parseLoginRequest } from '../../lib/login/request';

/**
 * The login's rehearsal at initialisation (lib/login/prime.ts): each adapter answers its own
 * requests from the recording kept next to them, and a request that no recording answers
 * makes the priming fail loudly (a warning naming the request), never the function.
 */
describe('Function: login priming (lib/login/prime.ts)', () => {
  // Nothing listens on port 9: a request that escaped the rehearsal would fail, and the
  // connections the rehearsal opens fail quietly.
  const ENV = {
    WECHAT_APPID: 'wx-rehearsal-test',
    WECHAT_SECRET: 'rehearsal-test-secret',
    WECHAT_API_BASE: 'http://127.0.0.1:9',
    USERS_TABLE: 'users',
    UNIONIDS_TABLE: 'unionids',
    DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
    UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
    UPSTASH_REDIS_REST_TOKEN: 'rehearsal-test-token',
    AWS_REGION: 'ap-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDREHEARSAL',
    AWS_SECRET_ACCESS_KEY: 'rehearsal-secret-key',
  };

  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  /** A login function as functions/login.ts builds it, initialised; what it printed meanwhile. */
  async function coldStartedLogin(): Promise<string> {
    for (const [name, value] of Object.entries(ENV)) vi.stubEnv(name, value);
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => (printed.push(String(chunk)), true)) as typeof process.stdout.write);
    const handler = httpHandler(composeLogin, async (event, log, { service }) => {
      const { code, proof } = parseLoginRequest(event);
      const network = clientNetwork(event.requestContext?.http?.sourceIp);
      return json(200, await service.login(code, log, proof ? { network, proof } : { network }));
    });
    await expect((handler as (event: unknown) => Promise<unknown>)({ warmPing: true })).resolves.toEqual({ warm: true });
    return printed.join('');
  }

  it('rehearses a new user and a returning one from the adapters\' recordings, without a warning', async () => {
    const login = vi.spyOn(DynamoUserRepository.prototype, 'recordLogin');
    const printed = await coldStartedLogin();
    expect(printed).not.toContain('priming failed');
    expect(login).toHaveBeenCalledTimes(2);
    expect(await Promise.all(login.mock.results.map((result) => result.value))).toMatchObject([{ user: { loginCount: 1 } }, { user: { loginCount: 2 } }]);
  });

  it('fails loudly when a login request changes without its recording: a warning names the request, and the function still starts', async () => {
    // The login's write now reads the row first: a request with no recording next to it.
    const recordLogin = DynamoUserRepository.prototype.recordLogin;
    vi.spyOn(DynamoUserRepository.prototype, 'recordLogin').mockImplementation(async function (this: DynamoUserRepository, input) {
      await this.findByOpenid(input.openid);
      return recordLogin.call(this, input);
    });

    const printed = await coldStartedLogin();

    const warning = printed.split('\n').find((line) => line.includes('priming failed'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({
      level: 'warn',
      reason: expect.stringMatching(/^the rehearsal has no recorded answer for POST http:\/\/127\.0\.0\.1:9\/ DynamoDB_20120810\.GetItem$/),
    });
  });
});

describe('Class: Rehearsal', () => {
  it('refuses a second run while one is running: its end would let the first run’s requests go out for real', async () => {
    const { Rehearsal } = await import('../../lib/adapters/http');
    const rehearsal = new Rehearsal();
    let release!: () => void;
    const first = rehearsal.run([], () => new Promise<void>((resolve) => (release = resolve)));
    await expect(rehearsal.run([], async () => 'second')).rejects.toThrow('a rehearsal is running already');
    release();
    await first;
    await expect(rehearsal.run([], async () => 'after')).resolves.toBe('after');
  });
});
