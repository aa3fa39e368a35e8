import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const { cors, originsOf } = createRequire(import.meta.url)('../../deploy/cors.cjs') as {
  cors: (input: { resolveVariable: (name: string) => Promise<unknown> }) => Promise<false | { allowedOrigins: string[] }>;
  originsOf: (value: unknown) => string[];
};

describe('deploy/cors.cjs', () => {
  it('is off without H5 origins, and lists exactly the ones given', async () => {
    await expect(cors({ resolveVariable: async () => '' })).resolves.toBe(false);
    await expect(cors({ resolveVariable: async () => 'https://h5.example.com, http://localhost:8080' })).resolves.toMatchObject({ allowedOrigins: ['https://h5.example.com', 'http://localhost:8080'] });
  });

  it.each(['https://h5.example.com/', 'https://h5.example.com/login', '*', 'h5.example.com', 'https://*.example.com'])('refuses %s, naming it: an origin is scheme, host and port', (origin) => {
    expect(() => originsOf(origin)).toThrow(JSON.stringify(origin));
  });
});
