import type { FieldNode, GraphQLResolveInfo } from "graphql";
import type { Viewer } from "../auth/viewer.js";
import type { Context } from "../graphql/context.js";
import { notFound } from "../common/errors.js";
import { notifyDatasetEvent } from "../events/bus.js";
import type { DatasetOrder } from "../generated/graphql.js";
import type { Resolvers } from "../generated/resolvers.js";
import { checkFirst, connectionResolvers, toConnection, totalCountFrom } from "../graphql/pagination.js";
import { refusalOf } from "../policy/dataset-access.js";
import { datasetLimit, datasetListScope, datasetScope, updateAction } from "../policy/dataset-access.js";
import { requireViewer } from "../policy/field-rules.js";
import { parseSearch } from "../common/search.js";
import { isSelected } from "../graphql/selection.js";
import { checkId } from "../common/validation.js";
import { explorePage } from "./catalog.js";
import { parseCreateInput, parseUpdateInput } from "./input.js";
import { decodeDatasetCursor, encodeDatasetCursor } from "./ordering.js";
import { findReadableDataset } from "./readable.js";
import type { DatasetConnectionModel } from "./rows.js";
import type { DatasetRow } from "./rows.js";
import type { ListColumnGroups } from "./sql.js";
import * as store from "./store.js";

/** Access to these resolvers is decided in src/policy/field-rules.ts; scopes come from src/policy/dataset-access.ts. */

interface ListArgs {
  first?: number | null;
  after?: string | null;
  orderBy?: DatasetOrder | null;
}

/**
 * One page of the datasets `filter` covers. What the client selected below decides what
 * the page's statement also reads: `totalCount`, the owners, unless they can only be the
 * viewer (whose row authentication already put in the loader), and the larger columns. Each
 * owner comes on its row, where `Dataset.owner` finds it without a promise or a loader.
 */
async function datasetPage(
  context: Context,
  viewer: Viewer,
  filter: store.DatasetListFilter,
  args: ListArgs,
  info: GraphQLResolveInfo,
): Promise<DatasetConnectionModel> {
  const first = checkFirst(args.first);
  const order = args.orderBy ?? "CREATED_AT_DESC";
  const after = args.after == null ? null : decodeDatasetCursor(order, args.after);
  const shown = listSelection(info);
  const extras = { totalCount: shown.totalCount, owners: !onlyOwnedBy(filter.scope, viewer) && shown.owner, columns: shown.columns };
  const page = await store.listDatasets(context.db, filter, order, after, first + 1, extras);
  return toConnection(
    page.rows,
    first,
    args.after,
    (row) => encodeDatasetCursor(order, row),
    totalCountFrom(page.totalCount, () => store.countDatasets(context.db, filter)),
  );
}

/** What the selection below a list shows that its statement may read with the page. */
interface ListSelection {
  totalCount: boolean;
  owner: boolean;
  columns: ListColumnGroups;
}

/**
 * What the selection below a list field shows. The answer is fixed with the document, so it
 * is worked out once per field node (a document Apollo keeps parsed comes back as the same
 * nodes) rather than in a score of look-ups on every request.
 */
function listSelection(info: GraphQLResolveInfo): ListSelection {
  const node = info.fieldNodes.length === 1 ? info.fieldNodes[0]! : undefined;
  const known = node && listSelections.get(node);
  if (known) return known;
  const shows = (...path: string[]) => isSelected(info, ["nodes", ...path]) || isSelected(info, ["edges", "node", ...path]);
  const selection: ListSelection = {
    totalCount: isSelected(info, ["totalCount"]),
    owner: shows("owner"),
    // The larger columns only when one of their fields is shown (look-ahead is generous: a
    // field in any fragment counts, so a field shown is never one whose column was not read).
    columns: {
      summary: shows("description") || shows("filePath"),
      card: shows("license") || shows("tags") || shows("readme"),
      ownerAccount: ["role", "active", "createdAt", "updatedAt"].some((field) => shows("owner", field)),
    },
  };
  if (node) listSelections.set(node, selection);
  return selection;
}

const listSelections = new WeakMap<FieldNode, ListSelection>();

/** True when every dataset the scope covers is the viewer's own. */
const onlyOwnedBy = (scope: store.DatasetListFilter["scope"], viewer: Viewer) => scope.kind === "owner" && scope.ownerId === viewer.id;

const DATASET = "Dataset";

export const datasetResolvers: Resolvers = {
  Query: {
    datasets: (_parent, args, context, info) => {
      const viewer = requireViewer(context);
      const filter = {
        scope: datasetListScope(viewer, args.filter?.access),
        search: parseSearch("filter.search", args.filter?.search),
        only: datasetLimit(viewer),
      };
      return datasetPage(context, viewer, filter, args, info);
    },
    adminDatasets: (_parent, args, context, info) => {
      const ownerId = args.filter?.ownerId == null ? null : checkId("filter.ownerId", args.filter.ownerId);
      const filter = { scope: { kind: "owner" as const, ownerId }, search: parseSearch("filter.search", args.filter?.search) };
      return datasetPage(context, requireViewer(context), filter, args, info);
    },
    // Anyone; a token limited to some datasets finds no other here either (the read scope's limit).
    exploreDatasets: (_parent, args, context, info) => explorePage(context.db, args, info, context.viewer ? datasetLimit(context.viewer) : null),
    dataset: async (_parent, args, context) => {
      const dataset = await findReadableDataset(context.db, context.viewer, checkId("id", args.id));
      if (!dataset) throw notFound(DATASET);
      return dataset;
    },
  },
  Mutation: {
    createDataset: async (_parent, args, context) => {
      // Whoever creates a dataset owns it.
      return store.insertDataset(context.db, context.services.audit, requireViewer(context).id, parseCreateInput(args.input));
    },
    updateDataset: async (_parent, args, context) => {
      const viewer = requireViewer(context);
      const id = checkId("id", args.id);
      const changes = parseUpdateInput(args.input);
      const action = updateAction(changes);
      const dataset = await context.db.transaction(async (tx) => {
        const updated = await store.updateDataset(tx, context.services.audit, id, datasetScope(viewer, action), changes);
        if (updated) await notifyDatasetEvent(tx, { type: "UPDATED", datasetId: updated.id, at: updated.updatedAt });
        return updated;
      });
      if (!dataset) throw await refusalOf(context.db, viewer, id, action);
      return dataset;
    },
    deleteDataset: async (_parent, args, context) => {
      const viewer = requireViewer(context);
      const id = checkId("id", args.id);
      const deleted = await context.db.transaction(async (tx) => {
        const removed = await store.deleteDataset(tx, context.services.audit, id, datasetScope(viewer, "manage"));
        if (removed) await notifyDatasetEvent(tx, { type: "DELETED", datasetId: id });
        return removed;
      });
      if (!deleted) throw await refusalOf(context.db, viewer, id, "manage");
      // The bytes staged for its unfinished uploads go before the answer; content nothing else
      // references right after it (whether anything else does must not show in the answer's time).
      await Promise.all(deleted.uploads.map((upload) => context.services.files.staging.remove(upload).catch(() => {})));
      context.services.files.garbage.collectSoon(deleted.content);
      return id;
    },
  },
  Dataset: {
    // Read with the row (admin lists): no promise, no loader. Otherwise one batched look-up.
    owner: (dataset, _args, context) => dataset.owner ?? loadOwner(context, dataset),
  },
  DatasetConnection: connectionResolvers<DatasetRow>(),
  ExploreConnection: { ...connectionResolvers<DatasetRow>(), facets: (connection) => connection.facets() },
};

async function loadOwner(context: Context, dataset: DatasetRow) {
  const owner = await context.loaders.users.load(dataset.userId);
  // The foreign key cascades, so an owner cannot be missing; if it were, that is a bug.
  if (!owner) throw new Error(`dataset ${dataset.id} has no owner row`);
  return owner;
}
