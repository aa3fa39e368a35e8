/**
 * A function's one-time initialisation (secrets, config, clients), started when the module
 * loads, so it runs during Lambda's init phase, and awaited by every invocation. Not top-level
 * await: Node's require() of an ES module (used by `serverless invoke local`) refuses it.
 * If it fails (SSM unreachable for a moment, say), the failure is that invocation's answer
 * and the next invocation tries again, instead of the container staying broken.
 */
export function initOnce<T>(init: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  const start = () => {
    pending = init();
    pending.catch(() => {
      pending = undefined;
    });
    return pending;
  };
  start();
  return () => pending ?? start();
}
