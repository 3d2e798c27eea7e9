import type { Context } from "../context.js";
import { notFound } from "../errors.js";
import type { DatasetOrder, Resolvers } from "../generated/graphql.js";
import { checkFirst, connectionResolvers, toConnection } from "../pagination.js";
import { datasetReadScope, datasetWriteScope, requireViewer } from "../policy/rules.js";
import { parseSearch } from "../search.js";
import { checkId } from "../validation.js";
import { parseCreateInput, parseUpdateInput } from "./input.js";
import { decodeDatasetCursor, encodeDatasetCursor } from "./ordering.js";
import type { DatasetConnectionModel } from "./rows.js";
import type { DatasetRow } from "./rows.js";
import * as store from "./store.js";

/** Access to these resolvers is decided in src/policy/rules.ts; scopes come from there too. */

interface ListArgs {
  first?: number | null;
  after?: string | null;
  orderBy?: DatasetOrder | null;
}

/** One page of the datasets `filter` covers; `totalCount` runs only when selected. */
async function datasetPage(context: Context, filter: store.DatasetListFilter, args: ListArgs): Promise<DatasetConnectionModel> {
  const first = checkFirst(args.first);
  const order = args.orderBy ?? "CREATED_AT_DESC";
  const after = args.after == null ? null : decodeDatasetCursor(order, args.after);
  const rows = await store.listDatasets(context.db, filter, order, after, first + 1);
  return toConnection(
    rows,
    first,
    args.after,
    (row) => encodeDatasetCursor(order, row),
    () => store.countDatasets(context.db, filter),
  );
}

const DATASET = "Dataset";

export const datasetResolvers: Resolvers = {
  Query: {
    datasets: (_parent, args, context) => {
      const { ownerId } = datasetReadScope(requireViewer(context));
      return datasetPage(context, { ownerId, search: parseSearch("filter.search", args.filter?.search) }, args);
    },
    adminDatasets: (_parent, args, context) => {
      const ownerId = args.filter?.ownerId == null ? null : checkId("filter.ownerId", args.filter.ownerId);
      return datasetPage(context, { ownerId, search: parseSearch("filter.search", args.filter?.search) }, args);
    },
    dataset: async (_parent, args, context) => {
      const { ownerId } = datasetReadScope(requireViewer(context));
      const dataset = await store.findDataset(context.db, checkId("id", args.id), ownerId);
      if (!dataset) throw notFound(DATASET);
      return dataset;
    },
  },
  Mutation: {
    createDataset: async (_parent, args, context) => {
      const { ownerId } = datasetWriteScope(requireViewer(context));
      const dataset = await store.insertDataset(context.db, ownerId, parseCreateInput(args.input));
      context.services.metrics.auditEvent("dataset.created");
      return dataset;
    },
    updateDataset: async (_parent, args, context) => {
      const { ownerId } = datasetWriteScope(requireViewer(context));
      const id = checkId("id", args.id);
      const dataset = await store.updateDataset(context.db, id, ownerId, parseUpdateInput(args.input));
      if (!dataset) throw notFound(DATASET);
      context.services.metrics.auditEvent("dataset.updated");
      return dataset;
    },
    deleteDataset: async (_parent, args, context) => {
      const { ownerId } = datasetWriteScope(requireViewer(context));
      const id = checkId("id", args.id);
      if (!(await store.deleteDataset(context.db, id, ownerId))) throw notFound(DATASET);
      context.services.metrics.auditEvent("dataset.deleted");
      return id;
    },
  },
  Dataset: {
    owner: async (dataset, _args, context) => {
      const owner = await context.loaders.users.load(dataset.userId);
      // The foreign key cascades, so an owner cannot be missing; if it were, that is a bug.
      if (!owner) throw new Error(`dataset ${dataset.id} has no owner row`);
      return owner;
    },
  },
  DatasetConnection: connectionResolvers<DatasetRow>(),
};
