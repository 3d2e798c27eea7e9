import { MapperKind, mapSchema } from "@graphql-tools/utils";
import { defaultFieldResolver, type GraphQLSchema } from "graphql";
import { createThrottle } from "../auth/throttle.js";
import type { Context } from "./context.js";

/**
 * Every mutation by a signed-in user counts against `WRITE_MAX_PER_USER` a minute
 * (createDataset, updateDataset, deleteDataset, and the account and admin mutations too),
 * each aliased copy on its own: past the limit the mutation is refused with RATE_LIMITED
 * and `retryAfter`, before it writes anything. Counted in the database, so all instances
 * share it. Anonymous mutations (register, login, refreshSession) have per-address limits
 * of their own.
 *
 * Applied under the policy (see schema.ts): a mutation the viewer may not run is refused
 * by its rule first and costs them nothing.
 */
export function applyWriteLimit(schema: GraphQLSchema): GraphQLSchema {
  return mapSchema(schema, {
    [MapperKind.MUTATION_ROOT_FIELD]: (field) => {
      const resolve = field.resolve ?? defaultFieldResolver;
      return {
        ...field,
        async resolve(parent, args, context: Context, info) {
          if (context.viewer) await createThrottle(context.db, context.services.config.throttle).write(context.viewer.id);
          return resolve(parent, args, context, info);
        },
      };
    },
  });
}
