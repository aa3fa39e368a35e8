import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { RecordedLogin } from './ports';

/** What the upgrade's pass needs of the users table (lib/adapters/dynamodb-users.ts). */
export interface LegacyRows {
  /** Every live row that holds a unionid with no claim of it. */
  unlinkedRows(): AsyncIterable<Record<string, AttributeValue>>;
  /** A login's steps 2 and 3 for the row: the claim, then the link or the conflict's record. */
  settleUnionid(row: Record<string, AttributeValue>, unionid: string, now: Date): Promise<RecordedLogin>;
}

/**
 * The upgrade to identities (docs/deploy.md, "Upgrading"): a row written before them holds the
 * unionid WeChat sent, but no claim of it. Its user's next login claims it; this claims every
 * one at once, so that a second app added since cannot start a user of its own for the same
 * person first. Each row is settled as a login would: safe to run again, and beside logins.
 */
export async function claimLegacyUnionids(rows: LegacyRows, say: (line: string) => void = () => {}): Promise<{ claimed: number; conflicts: number }> {
  let claimed = 0;
  let conflicts = 0;
  for await (const row of rows.unlinkedRows()) {
    const unionid = row.unionid?.S;
    if (!unionid) continue;
    const { user, conflict } = await rows.settleUnionid(row, unionid, new Date());
    if (conflict) {
      conflicts++;
      say(`user ${user.userId}: its unionid is held by user ${conflict.holder} (recorded)`);
    } else {
      claimed++;
    }
  }
  return { claimed, conflicts };
}
