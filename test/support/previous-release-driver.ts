/**
 * Runs the previous release's own functions (extracted by test/integration/upgrade.test.ts into
 * the folder given as the first argument) against the local stack named by the environment:
 * users log in, bind a phone number and set a nickname as they did before identities. Prints
 * what the new code must keep, as one JSON line.
 */
import { authorizerEvent, bodyOf, httpEvent, lambdaContext } from './events';

const [release] = process.argv.slice(2);
if (!release) throw new Error('usage: previous-release-driver.ts <folder of the previous release>');

type Handler = (event: unknown, context: unknown) => Promise<any>;
const load = async (fn: string) => ((await import(`${release}/functions/${fn}.ts`)) as { handler: Handler }).handler;
const [login, authorizer, phone, profile] = await Promise.all(['login', 'authorizer', 'phone', 'profile'].map(load));

const asUser = async (token: string, body: object) => {
  const { context } = await authorizer!(authorizerEvent(`Bearer ${token}`), lambdaContext);
  return httpEvent({ body: JSON.stringify(body), requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never });
};
const signIn = async (code: string) => bodyOf(await login!(httpEvent({ body: JSON.stringify({ code }) }), lambdaContext)) as { token: string; userId: string; isNewUser: boolean };

// Ann's mini-program is bound to the open platform: WeChat sends her unionid, kept on her row.
const ann = await signIn('old-ann.union1');
const annPhone = await phone!(await asUser(ann.token, { code: '13900139001.old-ann' }), lambdaContext);
// Ben logs in without one, and sets a nickname.
const ben = await signIn('old-ben.1');
const benNickname = await profile!(await asUser(ben.token, { nickname: 'Ben' }), lambdaContext);
process.stdout.write(`${JSON.stringify({ ann, ben, statuses: [annPhone.statusCode, benNickname.statusCode] })}\n`);
