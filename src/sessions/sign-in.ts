import type { Context } from "../context.js";
import type { AuthPayload } from "../generated/graphql.js";
import type { UserRow } from "../users/rows.js";
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

/** Starts a new session for `user` and returns its payload. */
export async function signIn(context: Context, user: UserRow): Promise<AuthPayloadModel> {
  const session = await createSession(context.db, user.id, context.services.config);
  return sessionPayload(context, user, session);
}
