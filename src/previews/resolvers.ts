import { badUserInput } from "../common/errors.js";
import type { Resolvers } from "../generated/resolvers.js";
import { MAX_PREVIEW_ROWS } from "./run-reader.js";

/** Access: a file's preview is the file's (src/policy/field-rules.ts); a file is reached only through a dataset the viewer may read. */
export const previewResolvers: Resolvers = {
  DatasetFile: {
    preview: (file, _args, context) => context.loaders.previews.load(file),
  },
  FilePreview: {
    rows: (preview, args) => {
      const first = args.first ?? 20;
      if (!Number.isInteger(first) || first < 0 || first > MAX_PREVIEW_ROWS) {
        throw badUserInput("first", `first must be 0 to ${MAX_PREVIEW_ROWS}`);
      }
      return preview.rows?.slice(0, first) ?? null;
    },
  },
};
