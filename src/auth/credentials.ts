import type { Queryable } from "../db/database.js";
import { findCredentialViewer } from "../tokens/store.js";
import type { UserRow } from "../users/rows.js";
import type { Viewer } from "./viewer-model.js";

/**
 * Whether `user` (as the database or the viewer cache has it now) still stands behind
 * `viewer`: the same active user and, for a session, the same token version and role
 * (logoutAll, a password or role change end it). A personal access token does not end with
 * those: it ends when revoked, expired, or its user deactivated, and never had admin powers.
 */
export function stillStandsFor(viewer: Viewer, user: Pick<UserRow, "id" | "active" | "tokenVersion" | "role">): boolean {
  if (user.id !== viewer.id || !user.active) return false;
  return viewer.credential.kind === "token" || (user.tokenVersion === viewer.tokenVersion && user.role === viewer.role);
}

/**
 * The viewer behind a credential id that a signed download link carries (a session's or a
 * token's), as the database has it now; null when that credential no longer works, or (a
 * session) the user's token version has moved on from `tokenVersion`.
 */
export async function viewerOfCredential(db: Queryable, userId: string, credentialId: string, tokenVersion: number): Promise<Viewer | null> {
  const found = await findCredentialViewer(db, userId, credentialId);
  if (!found?.live || !found.active) return null;
  if (found.isToken) {
    return {
      id: found.id,
      role: found.role,
      sessionId: credentialId,
      tokenVersion: found.tokenVersion,
      credential: {
        kind: "token",
        tokenId: credentialId,
        scope: found.tokenScope!,
        datasetIds: found.tokenDatasetIds,
        expiresAtMs: found.tokenExpiresAtMs === null ? null : Number(found.tokenExpiresAtMs),
      },
    };
  }
  if (found.tokenVersion !== tokenVersion) return null;
  return { id: found.id, role: found.role, sessionId: credentialId, tokenVersion, credential: { kind: "session" } };
}

/** Whether the credential behind `viewer` still works now (live connections check it again on every announcement). */
export async function credentialStillWorks(db: Queryable, viewer: Viewer): Promise<boolean> {
  const found = await findCredentialViewer(db, viewer.id, viewer.sessionId);
  return Boolean(found?.live && found.isToken === (viewer.credential.kind === "token") && stillStandsFor(viewer, found));
}
