import type DataLoader from "dataloader";
import { parseUsername } from "../auth/input.js";
import { notFound } from "../common/errors.js";
import type { Resolvers } from "../generated/resolvers.js";
import { readsAsMember } from "../policy/dataset-access.js";
import { requireViewer } from "../policy/field-rules.js";
import type { UserRow } from "../users/rows.js";
import { checkId } from "../common/validation.js";
import { shareDataset, unshareDataset } from "./store.js";

/** Access to these resolvers is decided in src/policy/field-rules.ts; who may share what, by the dataset scopes of src/policy/dataset-access.ts, in SQL. */

export const sharingResolvers: Resolvers = {
  Mutation: {
    shareDataset: async (_parent, args, context) => {
      const datasetId = checkId("datasetId", args.datasetId);
      const username = parseUsername("username", args.username);
      return shareDataset(context, context.db, requireViewer(context), { datasetId, username, role: args.role });
    },
    unshareDataset: async (_parent, args, context) => {
      const datasetId = checkId("datasetId", args.datasetId);
      const userId = checkId("userId", args.userId);
      return unshareDataset(context, context.db, requireViewer(context), { datasetId, userId });
    },
  },
  Dataset: {
    collaborators: async (dataset, _args, context) => {
      const access = dataset.access ?? (await context.loaders.sharing.access(context.viewer, dataset.id));
      return readsAsMember(access) ? context.loaders.sharing.collaborators(dataset.id) : [];
    },
    viewerAccess: async (dataset, _args, context) => {
      const access = dataset.access ?? (await context.loaders.sharing.access(context.viewer, dataset.id));
      // The dataset was readable a moment ago in this request; if its access went since (or the dataset), say so.
      if (!access) throw notFound("Dataset");
      return access;
    },
  },
  DatasetCollaborator: {
    user: (collaborator, _args, context) => collaborator.user ?? loadUser(context.loaders.users, collaborator.userId),
    addedBy: (collaborator, _args, context) => (collaborator.addedById ? context.loaders.users.load(collaborator.addedById) : null),
  },
};

async function loadUser(users: DataLoader<string, UserRow | null>, id: string): Promise<UserRow> {
  const user = await users.load(id);
  // The foreign key cascades, so a collaborator's user cannot be missing; if it were, that is a bug.
  if (!user) throw new Error(`collaborator ${id} has no user row`);
  return user;
}
