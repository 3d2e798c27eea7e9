import { ClientError, ErrorCode, badUserInput } from "../common/errors.js";
import type { Context } from "../graphql/context.js";
import { chargeListLength } from "../graphql/cost-budget.js";
import type { Resolvers } from "../generated/resolvers.js";
import { columnChanges } from "../previews/column-changes.js";
import type { PreviewModel } from "../previews/rows.js";
import { MAX_FILES_PER_VERSION } from "./commit.js";
import { versionDifferences } from "./comparison.js";
import type { FileDifferenceModel, VersionRow } from "./rows.js";

/**
 * `Dataset.compareVersions`. Access: the dataset's (src/policy/field-rules.ts): whoever reached
 * the dataset may read every version of it. The comparison is two manifests (one statement,
 * when `changes` is selected) and, for modified tables, their two stored previews (one
 * statement for all of them, through the request's preview loader); no file is read.
 */

/** BAD_USER_INPUT naming the field unless `number` can be a version's. */
function checkVersionNumber(field: "base" | "head", number: number): void {
  if (!Number.isInteger(number) || number < 1) throw badUserInput(field, `${field} must be a version number, 1 or more`);
}

/** Version `number` of the dataset, or NOT_FOUND naming the field when there is none. */
async function versionArgument(context: Context, datasetId: string, field: "base" | "head", number: number): Promise<VersionRow> {
  const version = await context.loaders.files.version(datasetId, number);
  if (!version) throw new ClientError(`Version ${number} not found: ${field} must name a committed version`, ErrorCode.NOT_FOUND, { field });
  return version;
}

/** Both previews of a MODIFIED file, when both are READY; null for anything else. */
async function readyPair(difference: FileDifferenceModel, context: Context): Promise<[PreviewModel, PreviewModel] | null> {
  if (difference.kind !== "MODIFIED" || !difference.before || !difference.after) return null;
  const [before, after] = await Promise.all([context.loaders.previews.load(difference.before), context.loaders.previews.load(difference.after)]);
  return before.status === "READY" && after.status === "READY" ? [before, after] : null;
}

export const comparisonResolvers: Resolvers = {
  Dataset: {
    compareVersions: async (dataset, args, context) => {
      // Both numbers are checked before either version is looked up (one statement for both).
      checkVersionNumber("base", args.base);
      checkVersionNumber("head", args.head);
      const [base, head] = await Promise.all([
        versionArgument(context, dataset.id, "base", args.base),
        versionArgument(context, dataset.id, "head", args.head),
      ]);
      return { datasetId: dataset.id, base, head };
    },
  },
  VersionComparison: {
    changes: async (comparison, _args, context, info) => {
      const { datasetId, base, head } = comparison;
      const differences = await versionDifferences(context.db, datasetId, base.number, head.number, base.fileCount + head.fileCount);
      // Its length is known only once read: charged before any field below it is resolved.
      chargeListLength(context, info, differences.length, 2 * MAX_FILES_PER_VERSION);
      return differences;
    },
  },
  FileDifference: {
    columnChanges: async (difference, _args, context) => {
      const pair = await readyPair(difference, context);
      return pair ? columnChanges(pair[0].columns ?? [], pair[1].columns ?? []) : null;
    },
    rowCountDelta: async (difference, _args, context) => {
      const pair = await readyPair(difference, context);
      return pair ? pair[1].rowCount! - pair[0].rowCount! : null;
    },
  },
};
