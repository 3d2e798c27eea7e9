import type { AuditLog } from "../audit/events.js";
import type { Database, Queryable } from "../db/database.js";
import { hashRefreshToken, newRefreshToken, successorOf } from "./refresh-tokens.js";
import * as sql from "./sql.js";

/** Why a session ended (kept in `sessions.revoked_reason`). */
export type RevokeReason = "logout" | "logout_all" | "password_changed" | "refresh_token_reuse" | "deactivated";

export interface Lifetimes {
  refreshTokenTtlSeconds: number;
  refreshReuseIntervalSeconds: number;
}

/** Starts a session for `userId`; returns its id and first refresh token. */
export async function createSession(db: Queryable, userId: string, lifetimes: Lifetimes): Promise<{ sessionId: string; refreshToken: string }> {
  const refreshToken = newRefreshToken();
  const [row] = await db.query<{ sessionId: string }>(sql.CREATE_SESSION, [userId, hashRefreshToken(refreshToken), lifetimes.refreshTokenTtlSeconds]);
  return { sessionId: row!.sessionId, refreshToken };
}

interface PresentedToken {
  id: string;
  sessionId: string;
  userId: string;
  rotated: boolean;
  withinReuseInterval: boolean;
  expired: boolean;
  revoked: boolean;
}

/** What presenting a refresh token came to. */
export type RefreshOutcome =
  | { kind: "rotated"; userId: string; sessionId: string; refreshToken: string }
  | { kind: "invalid" }
  /** An already-rotated token came back after the reuse interval: the session was revoked. */
  | { kind: "reused"; userId: string; sessionId: string };

/**
 * Rotates `token`: marks it used and returns its successor. Presented again within the
 * reuse interval while that successor is still unused, it returns the same successor
 * (racing tabs); presented again after that, it revokes the whole session (theft).
 */
export function rotateRefreshToken(
  database: Database,
  audit: AuditLog,
  token: string,
  successorKey: string,
  lifetimes: Lifetimes,
): Promise<RefreshOutcome> {
  return database.transaction(async (tx): Promise<RefreshOutcome> => {
    const [presented] = await tx.query<PresentedToken>(sql.REFRESH_TOKEN_FOR_UPDATE, [
      hashRefreshToken(token),
      lifetimes.refreshReuseIntervalSeconds,
    ]);
    if (!presented || presented.revoked || presented.expired) return { kind: "invalid" };
    const successor = successorOf(token, successorKey);
    const { userId, sessionId } = presented;

    if (!presented.rotated) {
      await tx.query(sql.ROTATE_REFRESH_TOKEN, [presented.id, hashRefreshToken(successor), lifetimes.refreshTokenTtlSeconds]);
      return { kind: "rotated", userId, sessionId, refreshToken: successor };
    }
    if (presented.withinReuseInterval) {
      const current = await tx.query(sql.IS_CURRENT_REFRESH_TOKEN, [hashRefreshToken(successor)]);
      if (current.length > 0) return { kind: "rotated", userId, sessionId, refreshToken: successor };
    }
    await tx.query(sql.REVOKE_SESSION, [sessionId, "refresh_token_reuse"]);
    // The actor is the account whose token came back, whoever held it.
    await audit.record(tx, { type: "session.refresh_token_reused", actorId: userId, subjectId: sessionId });
    return { kind: "reused", userId, sessionId };
  });
}

export async function revokeSession(db: Queryable, sessionId: string, reason: RevokeReason): Promise<void> {
  await db.query(sql.REVOKE_SESSION, [sessionId, reason]);
}

/** Ends the session `token` belongs to, if it is `userId`'s and still live; its id, or null. */
export async function revokeSessionByRefreshToken(db: Queryable, token: string, userId: string): Promise<string | null> {
  const [row] = await db.query<{ id: string }>(sql.REVOKE_SESSION_BY_REFRESH_TOKEN, [hashRefreshToken(token), userId]);
  return row?.id ?? null;
}

export async function revokeUserSessions(db: Queryable, userId: string, reason: RevokeReason): Promise<void> {
  await db.query(sql.REVOKE_USER_SESSIONS, [userId, reason]);
}
