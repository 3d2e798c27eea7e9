import type { Viewer } from "../auth/viewer.js";
import type { Queryable } from "../db/database.js";
import { actsAsAdmin, datasetLimit, datasetListScope, datasetScope } from "../policy/dataset-access.js";
import type { DatasetRow } from "./rows.js";
import { findDataset, listDatasets } from "./store.js";

/**
 * The dataset `id` if `viewer` may read it now, else null: the policy's read scope, in SQL.
 * `dataset(id)` answers with it, and every live event is checked with it (src/events), so
 * the two cannot disagree about who reads what.
 */
export function findReadableDataset(db: Queryable, viewer: Viewer | null, id: string): Promise<DatasetRow | null> {
  return findDataset(db, id, datasetScope(viewer, "read"));
}

/**
 * Viewers with the same key read the same datasets, so one look-up answers for all of them:
 * every admin (in person) reads every dataset; anyone else reads their own and those shared
 * with them, and a token limited to some datasets only those.
 */
export function readScopeKey(viewer: Viewer): string {
  // A token limited to some datasets reads fewer than its user: a scope of its own.
  if (viewer.credential.kind === "token" && viewer.credential.datasetIds !== null) return `token ${viewer.credential.tokenId}`;
  return actsAsAdmin(viewer) ? "admin" : `user ${viewer.id}`;
}

/**
 * The ids of the `limit` datasets `viewer` may read that were created last: owned and
 * shared (`datasets(filter: { access: ALL })`; an admin: everyone's), newest first.
 */
export async function listReadableDatasetIds(db: Queryable, viewer: Viewer, limit: number): Promise<string[]> {
  const page = await listDatasets(
    db,
    { scope: datasetListScope(viewer, "ALL"), search: null, only: datasetLimit(viewer) },
    "CREATED_AT_DESC",
    null,
    limit,
    // The ids alone: none of the larger columns.
    { totalCount: false, owners: false, columns: { summary: false, card: false } },
  );
  return page.rows.map((row) => row.id);
}
