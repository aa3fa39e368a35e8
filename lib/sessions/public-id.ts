import { deriveId } from '../crypto';
import { AppError } from '../errors';

/**
 * A session's public id: what the user's list of sessions shows and DELETE /user/sessions/{id}
 * takes. Derived from the token's hash one way, so it names the session without being the key
 * that names it in Redis (which the export promises never to reveal) nor leading to it.
 */
export function publicSessionId(tokenHash: string): string {
  return deriveId('session-public', tokenHash).slice(0, 22);
}

/** A public session id as accepted in a path: 22 base64url characters. */
export const PUBLIC_SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

/** Refuses what cannot be a public session id (INVALID_REQUEST), before any store is asked: the user's DELETE and the operator's revoke alike. */
export function checkPublicSessionId(id: string | undefined): asserts id is string {
  if (!id || !PUBLIC_SESSION_ID.test(id)) {
    throw new AppError('INVALID_REQUEST', 'A session id is 22 characters from A–Z, a–z, 0–9, - and _, as the list of sessions shows it.');
  }
}
