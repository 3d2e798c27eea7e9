import type { Context } from "../graphql/context.js";
import type { AuthPayload } from "../generated/graphql.js";
import type { UserRow } from "../users/rows.js";
import type { AuditType } from "../audit/types.js";
import type { Transaction } from "../db/database.js";
import { createSession } from "./store.js";

/** `AuthPayload` before field resolution: `user` is a row. */
export type AuthPayloadModel = Omit<AuthPayload, "user"> & { user: UserRow };

/** The payload for a session: a fresh access token bound to it, and its refresh token. */
export async function sessionPayload(
  context: Context,
  user: UserRow,
  session: { sessionId: string; refreshToken: string },
): Promise<AuthPayloadModel> {
  const { tokens } = context.services;
  // They proved who they are in this request, so the payload may show them their own email.
  context.provenUserIds.add(user.id);
  return {
    accessToken: await tokens.sign({ userId: user.id, tokenVersion: user.tokenVersion, sessionId: session.sessionId }),
    tokenType: "Bearer",
    expiresIn: tokens.ttlSeconds,
    refreshToken: session.refreshToken,
    user,
  };
}

/**
 * Starts a session for `user` on `tx` (the transaction of whatever signed them in) and
 * records `event` (login.succeeded, user.registered, password.changed) with it.
 */
export async function startSession(
  context: Context,
  tx: Transaction,
  user: UserRow,
  event: AuditType,
): Promise<{ sessionId: string; refreshToken: string }> {
  const session = await createSession(tx, user.id, context.services.config);
  await context.services.audit.record(tx, { type: event, actorId: user.id, subjectId: session.sessionId });
  return session;
}
