/**
 * Something this machine lacks for the local stack (a program, a reachable REDIS_URL), with
 * the fix in its message. The launchers print it as one line, not as a crash.
 */
export class LocalSetupError extends Error {
  override name = 'LocalSetupError';
}

/**
 * A `catch` for a launcher's start: a LocalSetupError becomes one line, `<command>: <message>`,
 * and exit code 1; anything else is a bug and is rethrown with its stack.
 */
export const exitOnSetupError =
  (command: string) =>
  (error: unknown): never => {
    if (!(error instanceof LocalSetupError)) throw error;
    console.error(`${command}: ${error.message}`);
    process.exit(1);
  };
