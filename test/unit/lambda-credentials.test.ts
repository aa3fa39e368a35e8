import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultProvider } from '../../lib/adapters/lambda-credentials';

const KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;

describe('Module: lib/adapters/lambda-credentials', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reads the role credentials Lambda puts in the environment', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret-example');
    vi.stubEnv('AWS_SESSION_TOKEN', 'session-example');
    await expect(defaultProvider()()).resolves.toMatchObject({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret-example',
      sessionToken: 'session-example',
    });
  });

  it('reads them once per provider: later requests get the same answer', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFIRST');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'first');
    const provider = defaultProvider();
    const first = await provider();
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDSECOND');
    expect(await provider()).toBe(first);
    expect(first.accessKeyId).toBe('AKIDFIRST');
  });

  it('does not keep a failure: once the variables are there, the next request finds them', async () => {
    for (const key of KEYS) vi.stubEnv(key, undefined);
    const provider = defaultProvider();
    await expect(provider()).rejects.toThrow();
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDLATE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'late');
    await expect(provider()).resolves.toMatchObject({ accessKeyId: 'AKIDLATE' });
  });
});
