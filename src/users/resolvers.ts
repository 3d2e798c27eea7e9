import type { Context } from "../graphql/context.js";
import { conflict, forbidden, notFound, unauthenticated } from "../common/errors.js";
import type { Resolvers } from "../generated/resolvers.js";
import { checkFirst, connectionResolvers, toConnection, totalCountFrom } from "../graphql/pagination.js";
import { checkOwnAccountChange, requireViewer } from "../policy/field-rules.js";
import { parseSearch } from "../common/search.js";
import { isSelected } from "../graphql/selection.js";
import { checkId } from "../common/validation.js";
import { decodeUserCursor, encodeUserCursor } from "./cursor.js";
import type { UserRow } from "./rows.js";
import * as store from "./store.js";

/** Access to these resolvers is decided in src/policy/field-rules.ts. */

/** Applies an admin's change to user `userId` and returns the user as it now is. */
async function changeAccount(context: Context, userId: string, change: store.AccountChange): Promise<UserRow> {
  const id = checkId("userId", userId);
  const viewer = requireViewer(context);
  checkOwnAccountChange(viewer, id, change);
  const outcome = await store.changeAccount(context.db, context.services.audit, id, change, viewer.id);
  switch (outcome.kind) {
    case "actorNotAdmin":
      throw forbidden("Only an active admin can change accounts");
    case "notFound":
      throw notFound("User");
    case "lastAdmin":
      throw conflict("userId", "This is the last active admin: make another user an admin first");
    case "changed":
      await context.services.viewerChanges.revoked("user", id);
      context.loaders.users.clear(id).prime(id, outcome.user);
      return outcome.user;
    default:
      // Unchanged: a concurrent request made this very change and may not have finished
      // confirming it with the other instances; the client's next request must see it too.
      await context.services.viewerChanges.revoked("user", id);
      // The request's loader may hold the user as it was.
      context.loaders.users.clear(id).prime(id, outcome.user);
      return outcome.user;
  }
}

export const userResolvers: Resolvers = {
  Query: {
    // The viewer's row is already in the request's loader (authentication loaded it).
    me: async (_parent, _args, context) => {
      const user = await context.loaders.users.load(requireViewer(context).id);
      if (!user) throw unauthenticated();
      return user;
    },
    // A selected totalCount is read with the page, in one statement.
    users: async (_parent, args, context, info) => {
      const first = checkFirst(args.first);
      const search = parseSearch("search", args.search);
      const after = args.after == null ? null : decodeUserCursor(args.after);
      const page = await store.listUsers(context.db, search, after, first + 1, isSelected(info, ["totalCount"]));
      const totalCount = totalCountFrom(page.totalCount, () => store.countUsers(context.db, search));
      return toConnection(page.rows, first, args.after, encodeUserCursor, totalCount);
    },
  },
  Mutation: {
    setUserRole: (_parent, { userId, role }, context) => changeAccount(context, userId, { role }),
    setUserActive: (_parent, { userId, active }, context) => changeAccount(context, userId, { active }),
  },
  UserConnection: connectionResolvers<UserRow>(),
};
