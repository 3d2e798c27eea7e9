import type { Resolvers } from "../generated/resolvers.js";
import { checkFirst, connectionResolvers, timeCursors, toConnection } from "../graphql/pagination.js";
import { checkId, checkText } from "../common/validation.js";
import type { AuditEventRow } from "./rows.js";
import { countAuditEvents, listAuditEvents, type AuditEventFilter } from "./store.js";

/** Access to these resolvers is decided in src/policy/field-rules.ts (admins only). */

const cursors = timeCursors("auditEvents");

export const auditResolvers: Resolvers = {
  Query: {
    auditEvents: async (_parent, args, context) => {
      const first = checkFirst(args.first);
      const filter: AuditEventFilter = {
        actorId: args.filter?.actorId == null ? null : checkId("filter.actorId", args.filter.actorId),
        type: args.filter?.type == null ? null : checkText("filter.type", args.filter.type, { min: 1, max: 64 }),
        since: args.filter?.since ?? null,
      };
      const after = args.after == null ? null : cursors.decode(args.after);
      const rows = await listAuditEvents(context.db, filter, after, first + 1);
      return toConnection(
        rows,
        first,
        args.after,
        (row) => cursors.encode(row.at, row.id),
        () => countAuditEvents(context.db, filter),
      );
    },
  },
  AuditEvent: {
    // A deleted actor leaves the event with no actor (the foreign key sets it null).
    actor: (event, _args, context) => (event.actorId ? context.loaders.users.load(event.actorId) : null),
  },
  AuditEventConnection: connectionResolvers<AuditEventRow>(),
};
