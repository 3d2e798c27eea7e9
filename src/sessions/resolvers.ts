import { checkPasswordShape, checkNewPassword } from "../auth/password-policy.js";
import { guardSignIn } from "../auth/sign-in-guard.js";
import { createThrottle } from "../auth/throttle.js";
import { badUserInput, unauthenticated } from "../common/errors.js";
import type { Resolvers } from "../generated/resolvers.js";
import { requireViewer } from "../policy/field-rules.js";
import { bumpTokenVersion, findPasswordHash, setPassword } from "../users/store.js";
import { isRefreshTokenShaped } from "./refresh-tokens.js";
import { sessionPayload, startSession } from "./sign-in.js";
import { revokeSessionByRefreshToken, revokeUserSessions, rotateRefreshToken } from "./store.js";

/** Access to these resolvers is decided in src/policy/field-rules.ts. */

const SESSION_ENDED = "This session has ended; sign in again";

export const sessionResolvers: Resolvers = {
  Mutation: {
    refreshSession: async (_parent, { refreshToken }, context) => {
      const { config, successorKey } = context.services;
      await createThrottle(context.db, config.throttle).refresh(context.clientAddress);
      if (!isRefreshTokenShaped(refreshToken)) throw unauthenticated(SESSION_ENDED);
      const outcome = await rotateRefreshToken(context.db, context.services.audit, refreshToken, successorKey, config);
      if (outcome.kind !== "rotated") {
        if (outcome.kind === "reused") {
          // The session just ended: its access tokens (the thief's too) with it, everywhere.
          await context.services.viewerChanges.revoked("session", outcome.sessionId);
          context.log.warn({ userId: outcome.userId, sessionId: outcome.sessionId }, "refresh token reused: session revoked");
        }
        throw unauthenticated(SESSION_ENDED);
      }
      const user = await context.loaders.users.load(outcome.userId);
      if (!user?.active) throw unauthenticated(SESSION_ENDED);
      return sessionPayload(context, user, { sessionId: outcome.sessionId, refreshToken: outcome.refreshToken });
    },
    logout: async (_parent, { refreshToken }, context) => {
      const viewer = requireViewer(context);
      if (!isRefreshTokenShaped(refreshToken)) return false;
      const ended = await context.db.transaction(async (tx) => {
        const sessionId = await revokeSessionByRefreshToken(tx, refreshToken, viewer.id);
        if (sessionId) await context.services.audit.record(tx, { type: "session.logout", actorId: viewer.id, subjectId: sessionId });
        return sessionId;
      });
      if (ended) await context.services.viewerChanges.revoked("session", ended);
      return ended !== null;
    },
    logoutAll: async (_parent, _args, context) => {
      const viewer = requireViewer(context);
      await context.db.transaction(async (tx) => {
        await bumpTokenVersion(tx, viewer.id);
        await revokeUserSessions(tx, viewer.id, "logout_all");
        await context.services.audit.record(tx, { type: "session.logout_all", actorId: viewer.id, subjectId: viewer.id });
      });
      await context.services.viewerChanges.revoked("user", viewer.id);
      return true;
    },
    changePassword: async (_parent, { currentPassword, newPassword }, context) => {
      const viewer = requireViewer(context);
      const { passwords } = context.services;
      const user = await context.loaders.users.load(viewer.id);
      if (!user) throw unauthenticated();
      checkPasswordShape("currentPassword", currentPassword);
      checkNewPassword("newPassword", newPassword, user);
      // A stolen access token must not become a way to guess the password: same throttle as login.
      const throttle = await guardSignIn(context, user.email, viewer.id);
      if (!(await passwords.verify(currentPassword, await findPasswordHash(context.db, viewer.id)))) {
        throw badUserInput("currentPassword", "currentPassword is not your current password");
      }
      await throttle.loginSucceeded(user.email, context.clientAddress);
      const passwordHash = await passwords.hash(newPassword);
      // Every other session and every token issued before end here; the caller gets a new session.
      const changed = await context.db.transaction(async (tx) => {
        const row = await setPassword(tx, viewer.id, passwordHash);
        if (!row) return null;
        await revokeUserSessions(tx, viewer.id, "password_changed");
        return { user: row, session: await startSession(context, tx, row, "password.changed") };
      });
      if (!changed) throw unauthenticated();
      await context.services.viewerChanges.revoked("user", viewer.id);
      context.loaders.users.clear(viewer.id).prime(viewer.id, changed.user);
      return sessionPayload(context, changed.user, changed.session);
    },
  },
};
