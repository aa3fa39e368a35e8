import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles (the
 * lambda-substitutes plugin in deploy/esbuild-plugins.cjs).
 *
 * Lambda hands every function its role's credentials in AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, so the environment is the only source a
 * function ever uses. The SDK's default chain would also bundle the SSO, STS, OIDC, INI,
 * process and instance-metadata providers with the clients they need: about a third of the
 * login bundle and a quarter of its load time, never used. Local runs set the same
 * variables (local/dynamodb.ts); tests run from source with the full chain.
 *
 * The SDK trusts a default provider to cache what it finds (the real chain does), so this
 * one does too: a process's environment cannot change under it, so the first answer stands
 * for the container's life. A failure is not kept; the next request asks again.
 */
export const defaultProvider: typeof fromEnv = (init) => {
  const read = fromEnv(init);
  let found: ReturnType<typeof read> | undefined;
  return (options) => {
    found ??= read(options).catch((err: unknown) => {
      found = undefined;
      throw err;
    });
    return found;
  };
};
