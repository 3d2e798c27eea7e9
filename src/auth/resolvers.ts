import { fromDatabaseError, unauthenticated } from "../common/errors.js";
import type { Resolvers } from "../generated/resolvers.js";
import { sessionPayload, startSession } from "../sessions/sign-in.js";
import { findCredentialsByEmail, insertUser, rehashPassword } from "../users/store.js";
import { parseEmail, parseUsername } from "./input.js";
import { checkNewPassword, checkPasswordShape } from "./password-policy.js";
import { guardSignIn } from "./sign-in-guard.js";
import { createThrottle } from "./throttle.js";

/** Access to these resolvers is decided in src/policy/field-rules.ts. */

const WRONG_CREDENTIALS = "Wrong email or password";

export const authResolvers: Resolvers = {
  Mutation: {
    register: async (_parent, { input }, context) => {
      const email = parseEmail("input.email", input.email);
      const username = parseUsername("input.username", input.username);
      checkNewPassword("input.password", input.password, { email, username });
      await createThrottle(context.db, context.services.config.throttle).register(context.clientAddress);
      const passwordHash = await context.services.passwords.hash(input.password);
      try {
        // Registration never grants ADMIN: see `npm run create-admin`.
        const { user, session } = await context.db.transaction(async (tx) => {
          const inserted = await insertUser(tx, { email, username, passwordHash, role: "USER" });
          return { user: inserted, session: await startSession(context, tx, inserted, "user.registered") };
        });
        return await sessionPayload(context, user, session);
      } catch (error) {
        throw fromDatabaseError(error, "input.");
      }
    },
    login: async (_parent, { input }, context) => {
      const email = parseEmail("input.email", input.email);
      checkPasswordShape("input.password", input.password);
      const throttle = await guardSignIn(context, email);
      const user = await findCredentialsByEmail(context.db, email);
      // An unknown email spends the same hash work as a wrong password: no timing oracle.
      const matches = await context.services.passwords.verify(input.password, user?.passwordHash ?? null);
      if (!user || !matches || !user.active) {
        await context.services.audit.record(context.db, { type: "login.failed", actorId: null, subjectId: user?.id ?? null, details: { email } });
        throw unauthenticated(WRONG_CREDENTIALS);
      }
      await throttle.loginSucceeded(email, context.clientAddress);
      const { passwords } = context.services;
      if (passwords.needsRehash(user.passwordHash)) {
        await rehashPassword(context.db, user.id, await passwords.hash(input.password));
      }
      const { passwordHash: _secret, ...row } = user;
      const session = await context.db.transaction((tx) => startSession(context, tx, row, "login.succeeded"));
      return sessionPayload(context, row, session);
    },
  },
};
