import type DataLoader from "dataloader";
import { decodeJwt } from "jose";
import type { Queryable } from "../db/database.js";
import { invalidToken } from "../common/errors.js";
import type { UserRow } from "../users/rows.js";
import { findViewer } from "../users/store.js";
import type { AccessClaims } from "./claims.js";
import { isPersonalSecret } from "./personal-secrets.js";
import { authenticateSecret } from "./token-viewer.js";
import type { ViewerCache } from "./viewer-cache.js";
import type { AuthServices, Viewer } from "./viewer-model.js";

export { type AuthServices, type Credential, tokenIdOf, type Viewer } from "./viewer-model.js";

/**
 * The three ways a token is refused, worded so a client knows what to do: an expired one is
 * refreshed, the others mean signing in again. The same words close a WebSocket (4403).
 */
export const EXPIRED = "The access token has expired: refresh the session with refreshSession(refreshToken) and send the new access token";
export const INVALID = "The access token is invalid (malformed, or not signed by this server): sign in again";
export const REVOKED = "The access token has been revoked (signed out, password or role changed, or deactivated): sign in again";

/**
 * Whether a refused token says it has expired. Read without the signature, only to word the
 * refusal (the token is refused either way): the claim is in the token its bearer sent.
 */
function hasExpired(token: string): boolean {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === "number" && exp * 1000 <= Date.now();
  } catch {
    return false;
  }
}

/**
 * Reads `Authorization: Bearer <token>`. No header: anonymous (null). A header that is
 * malformed, a token that is invalid or expired, or one whose user is gone or inactive,
 * whose session has ended, or which was issued before the user's token version moved on
 * (logoutAll, password change, role change) fails the whole request with 401. A personal
 * access token (`dpat_…`) goes to `authenticateSecret` (token-viewer.ts).
 *
 * One statement on two primary keys, or none when `viewers` holds the session (it forgets
 * a session or user the moment either changes: see viewer-cache.ts). The row then primes
 * the request's user loader, so `me` and owners cost no second look-up of the viewer.
 */
export async function authenticate(
  authorization: string | undefined,
  clientAddress: string,
  services: AuthServices,
  db: Queryable,
  users: DataLoader<string, UserRow | null>,
): Promise<Viewer | null> {
  if (authorization === undefined) return null;
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match) throw invalidToken("The Authorization header must be `Bearer <access token>`");
  if (isPersonalSecret(match[1]!)) return authenticateSecret(match[1]!, clientAddress, services, db, users);
  const { tokens, viewers } = services;
  const claims = await tokens.verify(match[1]!);
  if (!claims) throw invalidToken(hasExpired(match[1]!) ? EXPIRED : INVALID);

  // Only a match is taken from memory; anything else is for the database to decide.
  const cached = viewers.get(claims.sessionId);
  const user =
    cached && cached.id === claims.userId && cached.active && cached.tokenVersion === claims.tokenVersion
      ? cached
      : await viewers.readOnce(`${claims.sessionId} ${claims.userId} ${claims.tokenVersion}`, (snapshot) =>
          readViewer(db, viewers, claims, snapshot),
        );
  users.prime(user.id, user);
  return { id: user.id, role: user.role, sessionId: claims.sessionId, tokenVersion: claims.tokenVersion, credential: { kind: "session" } };
}

async function readViewer(db: Queryable, viewers: ViewerCache, claims: AccessClaims, snapshot: number): Promise<UserRow> {
  const found = await findViewer(db, claims.userId, claims.sessionId);
  if (!found?.sessionLive || !found.active || found.tokenVersion !== claims.tokenVersion) {
    throw invalidToken(REVOKED);
  }
  const { sessionLive: _live, ...user } = found;
  viewers.remember(claims.sessionId, user, snapshot);
  return user;
}
