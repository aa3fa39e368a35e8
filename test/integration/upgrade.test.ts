import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extractRelease, hasRelease, PREVIOUS_RELEASE } from '../../local/previous-release';
import { stubOpenid } from '../../local/wechat-stub';
import { authorizerEvent, bodyOf, httpEvent } from '../support/events';
import { exited, runScript } from '../support/dev-server';
import { coldStart, useLocalStack } from '../support/local';

/**
 * The upgrade to identities (docs/deploy.md, "Upgrading"), on the previous release's data
 * written by the previous release's own code: its functions, taken from git, log users in,
 * bind a phone number and set a nickname in the local stack; then this release's functions,
 * and its upgrade pass, run on the same tables and Redis. Nobody is logged out, and every
 * user keeps its userId, phone and profile.
 */
const available = hasRelease();
if (!available) console.warn(`upgrade test skipped: this clone does not hold the previous release ${PREVIOUS_RELEASE} (a shallow clone?)`);

describe.skipIf(!available)('Upgrading from the release before identities (integration)', () => {
  const ctx = useLocalStack();
  const folder = mkdtempSync(join(tmpdir(), 'previous-release-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('keeps every user, session, phone and profile; the upgrade pass claims the old unionids, so the new app’s identity joins its user', async () => {
    // The previous release's code, as it was, over this checkout's dependencies.
    extractRelease(folder);
    const driver = runScript('test/support/previous-release-driver.ts', ctx.env, [folder]);
    expect(await exited(driver.child), driver.output()).toBe(0);
    const before = JSON.parse(driver.output().trim().split('\n').at(-1)!) as { ann: { token: string; userId: string }; ben: { token: string; userId: string }; statuses: number[] };
    expect(before.statuses).toEqual([200, 200]);

    // This release, on the same stores: the old sessions still work, as the same users.
    const authorize = await coldStart('authorizer', ctx.env);
    const me = await coldStart('me', ctx.env);
    const profileOf = async (token: string) => {
      const { isAuthorized, context } = await authorize(authorizerEvent(`Bearer ${token}`));
      expect(isAuthorized).toBe(true);
      return bodyOf(await me(httpEvent({ requestContext: { ...httpEvent().requestContext, authorizer: { lambda: context } } as never })));
    };
    expect(await profileOf(before.ann.token)).toMatchObject({ userId: before.ann.userId, phone: { purePhoneNumber: '13900139001' }, loginCount: 1, apps: [{ appid: ctx.env.WECHAT_APPID }] });
    expect(await profileOf(before.ben.token)).toMatchObject({ userId: before.ben.userId, nickname: 'Ben', loginCount: 1 });

    // The upgrade pass: Ann's unionid, kept on her row by the old code, is claimed for her.
    const pass = runScript('scripts/users.ts', ctx.env, ['claim-unionids']);
    expect(await exited(pass.child), pass.output()).toBe(0);
    expect(pass.output()).toContain('claimed 1 unionid(s); 0 held by another user');

    // The second mini-program, added after the upgrade: the same person is the same user.
    const login = await coldStart('login', ctx.env);
    const signIn = async (code: string, appid?: string) => bodyOf(await login(httpEvent({ body: JSON.stringify({ code, ...(appid ? { appid } : {}) }) })));
    expect(await signIn('old-ann.union2', ctx.env.WECHAT_APPID_MINI2)).toMatchObject({ userId: before.ann.userId, isNewUser: false });
    expect(await signIn('old-ben.2')).toMatchObject({ userId: before.ben.userId, isNewUser: false });
    expect(await signIn('old-ann.union3')).toMatchObject({ userId: before.ann.userId, isNewUser: false });
    // The old sessions outlive all of it.
    expect(await profileOf(before.ann.token)).toMatchObject({ userId: before.ann.userId, loginCount: 3, phone: { purePhoneNumber: '13900139001' } });
    expect((await profileOf(before.ben.token)).loginCount).toBe(2);
    // Run again, the pass finds nothing left to claim.
    const again = runScript('scripts/users.ts', ctx.env, ['claim-unionids']);
    expect(await exited(again.child), again.output()).toBe(0);
    expect(again.output()).toContain('claimed 0 unionid(s)');
    expect(stubOpenid(ctx.env.WECHAT_APPID!, 'old-ann')).not.toBe(stubOpenid(ctx.env.WECHAT_APPID_MINI2!, 'old-ann'));
  }, 60_000);
});
