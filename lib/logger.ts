import type { LogLevel } from './config';

/**
 * One structured logger: a fixed message string, context as fields, one JSON object a line.
 *
 * Redaction happens in two layers so that a secret cannot reach a log line by accident:
 *  1. fields whose *name* says they hold a credential are replaced wholesale;
 *  2. every secret *value* is scrubbed from the final line, wherever it hides: the function's
 *     SecureString settings (the AppSecret, the Upstash token, …), which the runtime registers
 *     for every logger of the container (registerSecrets), and a request's own (its token).
 */
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line and scrubs `secrets` too. */
  child(fields: Fields, secrets?: readonly string[]): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const REDACTED = '[REDACTED]';
const SECRET_FIELD = /^(secret|app_?secret|token|access_?token|session_?key|authorization|js_?code|code|password)$/i;
/** Values shorter than this are not scrubbed by value (too likely to hit innocent text). */
const MIN_SECRET_LENGTH = 6;

export type Sink = (line: string) => void;

/** Where the logger and the metrics write: one line each, to stdout, which Lambda sends to CloudWatch Logs. */
export const stdoutSink: Sink = (line) => {
  process.stdout.write(line + '\n');
};

/**
 * The container's secret values, scrubbed by every logger, including the ones created before
 * they were registered: lib/runtime.ts registers each SecureString setting once its parameters
 * are read (lib/secrets.ts), so no composition root lists them. A container runs one function,
 * so one set is its; values stay registered for the container's life (a rotated-out secret
 * too).
 */
const registered = new Set<string>();

export function registerSecrets(values: Iterable<string>): void {
  for (const value of values) if (value.length >= MIN_SECRET_LENGTH) registered.add(value);
}

export function redactFields(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactFields(item, depth + 1));
  const out: Fields = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_FIELD.test(key) ? REDACTED : redactFields(inner, depth + 1);
  }
  return out;
}

function scrub(line: string, secrets: Iterable<string>): string {
  let out = line;
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    // The value may appear raw or JSON-escaped inside the line.
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])) {
      out = out.split(form).join(REDACTED);
    }
  }
  return out;
}

class JsonLogger implements Logger {
  constructor(
    private readonly level: LogLevel,
    private readonly base: Fields,
    private readonly secrets: readonly string[],
    private readonly sink: Sink,
  ) {}

  debug(message: string, fields?: Fields): void {
    this.write('debug', message, fields);
  }
  info(message: string, fields?: Fields): void {
    this.write('info', message, fields);
  }
  warn(message: string, fields?: Fields): void {
    this.write('warn', message, fields);
  }
  error(message: string, fields?: Fields): void {
    this.write('error', message, fields);
  }

  child(fields: Fields, secrets: readonly string[] = []): Logger {
    return new JsonLogger(this.level, { ...this.base, ...fields }, [...this.secrets, ...secrets], this.sink);
  }

  private write(level: LogLevel, message: string, fields?: Fields): void {
    if (RANK[level] < RANK[this.level]) return;
    const entry = { level, message, timestamp: new Date().toISOString(), ...this.base, ...fields };
    let line: string;
    try {
      line = JSON.stringify(redactFields(entry));
    } catch {
      line = JSON.stringify({ level, message, timestamp: entry.timestamp, logError: 'unserialisable fields' });
    }
    this.sink(scrub(scrub(line, registered), this.secrets));
  }
}

export function createLogger(options: {
  level: LogLevel;
  service: string;
  secrets?: readonly string[];
  sink?: Sink;
}): Logger {
  return new JsonLogger(options.level, { service: options.service }, options.secrets ?? [], options.sink ?? stdoutSink);
}

/** A login code is a credential for five minutes: log its length and first characters only. */
export function maskCode(code: string): string {
  return `${code.slice(0, 4)}…(${code.length})`;
}
