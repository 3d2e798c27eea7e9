import type { Resolvers } from "../generated/graphql.js";
import { unauthenticated } from "../errors.js";
import { requireViewer } from "../policy/rules.js";

/** Access to these resolvers is decided in src/policy/rules.ts. */
export const userResolvers: Resolvers = {
  Query: {
    // The viewer's row is already in the request's loader (authentication loaded it).
    me: async (_parent, _args, context) => {
      const user = await context.loaders.users.load(requireViewer(context).id);
      if (!user) throw unauthenticated();
      return user;
    },
  },
};
