import { createLogger, type Logger } from '../../lib/logger';

/** A real logger whose lines are kept for assertions instead of printed. */
export function captureLogger(secrets: string[] = []): { logger: Logger; lines: string[]; entries: () => any[] } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', service: 'test', secrets, sink: (line) => lines.push(line) });
  return { logger, lines, entries: () => lines.map((line) => JSON.parse(line)) };
}
