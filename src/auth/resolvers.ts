import type { Context } from "../context.js";
import { fromDatabaseError, unauthenticated } from "../errors.js";
import type { AuthPayload, Resolvers } from "../generated/graphql.js";
import type { UserRow } from "../users/rows.js";
import { findCredentialsByEmail, insertUser } from "../users/store.js";
import { parseEmail, parseUsername } from "./input.js";
import { checkNewPassword, checkPasswordShape } from "./password-policy.js";

/** Access to these resolvers is decided in src/policy/rules.ts. */

type AuthPayloadModel = Omit<AuthPayload, "user"> & { user: UserRow };

/** Signs `user` in: an access token, and the right to see their own email in the payload. */
async function signIn(context: Context, user: UserRow): Promise<AuthPayloadModel> {
  const { tokens } = context.services;
  context.provenUserIds.add(user.id);
  return {
    accessToken: await tokens.sign({ userId: user.id, tokenVersion: user.tokenVersion }),
    tokenType: "Bearer",
    expiresIn: tokens.ttlSeconds,
    user,
  };
}

const WRONG_CREDENTIALS = "Wrong email or password";

export const authResolvers: Resolvers = {
  Mutation: {
    register: async (_parent, { input }, context) => {
      const email = parseEmail("input.email", input.email);
      const username = parseUsername("input.username", input.username);
      checkNewPassword("input.password", input.password, { email, username });
      const passwordHash = await context.services.passwords.hash(input.password);
      try {
        // Registration never grants ADMIN: see `npm run create-admin`.
        const user = await insertUser(context.db, { email, username, passwordHash, role: "USER" });
        return signIn(context, user);
      } catch (error) {
        throw fromDatabaseError(error, "input.");
      }
    },
    login: async (_parent, { input }, context) => {
      const email = parseEmail("input.email", input.email);
      checkPasswordShape("input.password", input.password);
      const user = await findCredentialsByEmail(context.db, email);
      // An unknown email spends the same hash work as a wrong password: no timing oracle.
      const matches = await context.services.passwords.verify(input.password, user?.passwordHash ?? null);
      if (!user || !matches || !user.active) throw unauthenticated(WRONG_CREDENTIALS);
      const { passwordHash: _secret, ...row } = user;
      return signIn(context, row);
    },
  },
};
