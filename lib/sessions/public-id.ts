import { deriveId } from '../crypto';

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
