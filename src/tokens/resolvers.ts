import { newSecret, secretHash, secretPrefix } from "../auth/personal-secrets.js";
import { badUserInput, notFound } from "../common/errors.js";
import { checkId } from "../common/validation.js";
import { findDatasets } from "../datasets/store.js";
import type { Resolvers } from "../generated/resolvers.js";
import { actsAsAdmin, datasetScope } from "../policy/dataset-access.js";
import { requireViewer } from "../policy/field-rules.js";
import { parseCreateTokenInput } from "./input.js";
import { findAccessToken, insertAccessToken, listAccessTokens, revokeAccessToken } from "./store.js";

/**
 * Personal access tokens. Who may call each field: src/policy/field-rules.ts (a person
 * signed in with a session, never a token). A token reaches what its user reaches as a
 * plain user, so its dataset list is checked and shown in that scope (admin powers left out).
 */
export const tokenResolvers: Resolvers = {
  Query: {
    accessTokens: (_parent, _args, context) => listAccessTokens(context.db, requireViewer(context).id),
  },
  Mutation: {
    createAccessToken: async (_parent, { input }, context) => {
      const viewer = requireViewer(context);
      const request = parseCreateTokenInput(input);
      const secret = newSecret();
      const token = await context.db.transaction(async (tx) => {
        if (request.datasetIds) {
          const readable = new Set(
            (await findDatasets(tx, request.datasetIds, { ...datasetScope(viewer, "read"), admin: false })).map((row) => row.id),
          );
          const index = request.datasetIds.findIndex((id) => !readable.has(id));
          // Absent and unreadable are told apart by nobody: the same refusal for both.
          if (index >= 0) throw badUserInput(`input.datasetIds[${index}]`, `input.datasetIds[${index}]: no dataset you may read has this id`);
        }
        const row = await insertAccessToken(tx, {
          userId: viewer.id,
          name: request.name,
          scope: request.scope,
          datasetIds: request.datasetIds,
          prefix: secretPrefix(secret),
          secretHash: secretHash(secret),
          expiresInDays: request.expiresInDays,
        });
        await context.services.audit.record(tx, {
          type: "token.created",
          actorId: viewer.id,
          subjectId: row.id,
          details: { name: row.name, scope: row.scope, datasetIds: row.datasetIds, expiresAt: row.expiresAt },
        });
        return row;
      });
      return { token, secret };
    },
    revokeAccessToken: async (_parent, args, context) => {
      const viewer = requireViewer(context);
      const id = checkId("id", args.id);
      const revoked = await context.db.transaction(async (tx) => {
        const token = await findAccessToken(tx, id);
        // Another user's token is absent to anyone but an admin.
        if (!token || (token.userId !== viewer.id && !actsAsAdmin(viewer))) throw notFound("AccessToken");
        const row = await revokeAccessToken(tx, id);
        if (row)
          await context.services.audit.record(tx, { type: "token.revoked", actorId: viewer.id, subjectId: id, details: { userId: row.userId } });
        return row;
      });
      // Every instance forgets it (the trigger announced it) before the answer: the next request is refused anywhere.
      if (revoked) await context.services.viewerChanges.revoked("session", id);
      return revoked !== null;
    },
  },
  AccessToken: {
    datasets: async (token, _args, context) => {
      if (token.datasetIds === null) return null;
      return findDatasets(context.db, token.datasetIds, { ...datasetScope(requireViewer(context), "read"), admin: false });
    },
  },
};
