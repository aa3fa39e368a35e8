/**
 * `npm run invoke:local`: starts the local stack, runs `serverless invoke local -f login`
 * with a sample API Gateway event (events/login.json by default) and stops the stack.
 *   npm run invoke:local -- --path events/login.json
 */
// The functions run on nodejs22.x in Lambda; the SDK's notice about this workstation's Node
// version is noise here (the local stack creates a DynamoDB client in this process).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { exitOnSetupError } from './setup-error';
import { startLocalStack } from './stack';
import { runServerless } from './serverless-cli';

const args = process.argv.slice(2);
if (!args.includes('--path') && !args.includes('-p')) args.push('--path', 'events/login.json');
const fn = args.includes('--function') || args.includes('-f') ? [] : ['--function', 'login'];

const stack = await startLocalStack().catch(exitOnSetupError('npm run invoke:local'));
// It builds .js bundles, which osls's invoke local can load (deploy/invoke-local.cjs).
const child = runServerless(['invoke', 'local', ...fn, ...args], stack.env);
const code = await new Promise<number>((resolve) => child.on('exit', (status) => resolve(status ?? 1)));
await stack.stop();
process.exit(code);
