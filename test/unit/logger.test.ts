import { describe, expect, it } from 'vitest';
import { createLogger, maskCode, REDACTED, registerSecrets } from '../../lib/logger';
import { captureLogger } from '../support/log-capture';

describe('Function: createLogger', () => {
  it('writes one JSON object a line with level, message, timestamp and fields', () => {
    const { logger, entries } = captureLogger();
    logger.child({ requestId: 'r1' }).info('login succeeded', { userId: 'u1' });
    expect(entries()).toEqual([
      expect.objectContaining({ level: 'info', message: 'login succeeded', service: 'test', requestId: 'r1', userId: 'u1' }),
    ]);
    expect(Date.parse(entries()[0].timestamp)).not.toBeNaN();
  });

  it('redacts fields whose name says they hold a credential, at any depth', () => {
    const { logger, lines } = captureLogger();
    logger.info('x', {
      token: 'tok-123456',
      session_key: 'sk-123456',
      nested: { sessionKey: 'sk2-123456', secret: 'sec-123456', authorization: 'Bearer abcdef' },
      list: [{ code: 'code-123456' }],
    });
    const line = lines[0]!;
    for (const value of ['tok-123456', 'sk-123456', 'sk2-123456', 'sec-123456', 'Bearer abcdef', 'code-123456']) {
      expect(line).not.toContain(value);
    }
    expect(line.split(REDACTED)).toHaveLength(7);
  });

  it('scrubs registered secret values wherever they appear, raw, JSON-escaped or URL-encoded', () => {
    const secret = 'app/secret"with&odd=chars';
    const { logger, lines } = captureLogger([secret]);
    logger.child({}, ['per-request-code']).error('boom', {
      message: `GET /?secret=${encodeURIComponent(secret)}`,
      raw: `value ${secret} here`,
      other: 'per-request-code seen',
    });
    const line = lines[0]!;
    expect(line).not.toContain(secret);
    expect(line).not.toContain(JSON.stringify(secret).slice(1, -1));
    expect(line).not.toContain(encodeURIComponent(secret));
    expect(line).not.toContain('per-request-code');
  });

  it('keeps a child’s secrets out of its parent', () => {
    const { logger, lines } = captureLogger();
    logger.child({}, ['only-in-child']);
    logger.info('parent line', { value: 'only-in-child' });
    expect(lines[0]).toContain('only-in-child');
  });

  it('scrubs a registered secret from every logger, one created before the registration included', () => {
    const before = captureLogger();
    const secret = `registered-${Math.random().toString(36).slice(2)}`;
    registerSecrets([secret]);
    const after = captureLogger();
    before.logger.info('line', { value: secret });
    after.logger.child({ requestId: secret }).warn(`message ${secret}`);
    for (const line of [...before.lines, ...after.lines]) {
      expect(line).not.toContain(secret);
      expect(line).toContain(REDACTED);
    }
  });

  it('does not register a value too short to scrub safely', () => {
    registerSecrets(['abc12']);
    const { logger, lines } = captureLogger();
    logger.info('line', { value: 'abc12' });
    expect(lines[0]).toContain('abc12');
  });

  it('drops lines below its level', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', service: 's', sink: (line) => lines.push(line) });
    logger.info('quiet');
    logger.warn('loud');
    expect(lines.map((line) => JSON.parse(line).message)).toEqual(['loud']);
  });
});

describe('Function: maskCode', () => {
  it('keeps the first four characters and the length only', () => {
    expect(maskCode('0a3Xyz000ObAyK19vV1005SDWf0v0m0s')).toBe('0a3X…(32)');
  });
});
