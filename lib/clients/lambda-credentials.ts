/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles (see the esbuild
 * `alias` in serverless.yml).
 *
 * Lambda hands every function its role's credentials in AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, so the environment is the only source a
 * function ever uses. The SDK's default chain would also bundle the SSO, STS, OIDC, INI,
 * process and instance-metadata providers with the clients they need: about a third of the
 * login bundle and a quarter of its load time, never used. Local runs set the same
 * variables (local/dynamodb.ts); tests run from source with the full chain.
 */
export { fromEnv as defaultProvider } from '@aws-sdk/credential-provider-env';
