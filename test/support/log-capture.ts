import { afterAll, beforeAll, vi } from 'vitest';
import { createLogger, type Logger } from '../../lib/logger';

/** A real logger whose lines are kept for assertions instead of printed. */
export function captureLogger(secrets: string[] = []): { logger: Logger; lines: string[]; entries: () => any[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', service: 'test', secrets, sink: (line) => lines.push(line) });
  return { logger, lines, entries: () => lines.map((line) => JSON.parse(line)) };
}

/**
 * Everything the functions print to stdout while this describe block runs (their JSON logs and
 * EMF metrics), captured instead of printed. Call it in the describe body, before the
 * `beforeAll` that loads the functions.
 */
export function capturedStdout(): string[] {
  const printed: string[] = [];
  beforeAll(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => {
      printed.push(String(chunk));
      return true;
    }) as typeof process.stdout.write);
  });
  afterAll(() => {
    vi.restoreAllMocks();
  });
  return printed;
}
