import { badUserInput } from "../common/errors.js";
import type { Resolvers } from "../generated/resolvers.js";

/** At most this many rows a page (docs/api.md). */
export const MAX_ROWS_PAGE = 500;

/**
 * Access: a file's table is the file's (src/policy/field-rules.ts): a file is reached only
 * through a dataset the viewer may read, and its table only through the file.
 */
export const tableResolvers: Resolvers = {
  DatasetFile: {
    table: async (file, _args, context) => (await context.loaders.previews.load(file)).table,
  },
  FileTable: {
    columns: (table) => table.profiles,
    rows: (table, args, context) => {
      const first = args.first ?? 50;
      if (!Number.isInteger(first) || first < 0 || first > MAX_ROWS_PAGE) throw badUserInput("first", `first must be 0 to ${MAX_ROWS_PAGE}`);
      // The per-user bound counts a signed-in viewer's queries together, from any request.
      const who = context.viewer?.id ?? `address:${context.clientAddress}`;
      return context.services.tables.rows(who, table, { ...args, first });
    },
  },
};
