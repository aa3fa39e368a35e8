// One shared setup for every test file: quiet, deterministic defaults.
import { beforeEach, onTestFailed } from 'vitest';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/**
 * Quiet stdout. The functions' logger and metrics (lib/logger.ts, lib/metrics.ts) write one
 * JSON object a line to process.stdout; a passing run would print hundreds of them between
 * vitest's lines. While tests run, those lines (and only those: `{"level"…` or `{"_aws"…`) go
 * to a buffer that is printed when the current test fails and dropped when the next one starts.
 *
 * The replacement is a plain assignment made once per process, not a vi.spyOn spy: a test that
 * spies on process.stdout.write wraps it and sees every line as before, and
 * vi.restoreAllMocks() puts this function back rather than the real write.
 */
type Write = typeof process.stdout.write;
interface QuietStdout {
  buffer: string[];
  realWrite: Write;
}

const KEY = Symbol.for('wechat-login.test.quiet-stdout');
const LOG_LINE = /^\{"(level|_aws)"/;

function installQuietStdout(): QuietStdout {
  const holder = globalThis as { [KEY]?: QuietStdout };
  const existing = holder[KEY];
  if (existing) return existing;
  const realWrite = process.stdout.write.bind(process.stdout) as Write;
  const state: QuietStdout = { buffer: [], realWrite };
  process.stdout.write = function quietWrite(chunk: unknown, ...rest: unknown[]): boolean {
    if (process.env.TEST_LOGS !== '1' && typeof chunk === 'string' && LOG_LINE.test(chunk)) {
      state.buffer.push(chunk);
      const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
      if (callback) process.nextTick(callback);
      return true;
    }
    return (realWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
  } as Write;
  holder[KEY] = state;
  return state;
}

const quiet = installQuietStdout();

beforeEach((context) => {
  quiet.buffer = [];
  onTestFailed(() => {
    const lines = quiet.buffer;
    quiet.buffer = [];
    if (lines.length === 0) return;
    quiet.realWrite(`\n--- ${lines.length} log line(s) of failed test "${context.task.name}" ---\n${lines.join('')}--- end of log lines ---\n`);
  });
});
