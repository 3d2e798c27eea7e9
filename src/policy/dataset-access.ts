import type { Viewer } from "../auth/viewer.js";
import type { Queryable } from "../db/database.js";
import type { DatasetAccess } from "../generated/graphql.js";
import { DATASET_ACCESS } from "./access-sql.js";
import { type DatasetAction, datasetRefusal, datasetScope, scopeParams } from "./rules.js";

/**
 * The one question every door asks about a dataset, answered by the database as it is now:
 * "what may this viewer do with it?" GraphQL, the file routes and (through the same
 * function) subscriptions ask it; the statements that read or change rows carry the same
 * rule in their WHERE clause (access-sql.ts), so this answer is for telling apart the
 * refusals, never a permission on its own.
 */

/** The viewer's access to a dataset (null: none, or no such dataset), and whether it allows the action asked about. */
export interface DatasetPermission {
  access: DatasetAccess | null;
  allowed: boolean;
}

/** May `viewer` do `action` with dataset `datasetId` (an id checked as a UUID), as of now? */
export async function datasetPermission(db: Queryable, viewer: Viewer, datasetId: string, action: DatasetAction): Promise<DatasetPermission> {
  const [row] = await db.query<{ access: DatasetAccess | null; allowed: boolean | null }>(DATASET_ACCESS, [
    datasetId,
    ...scopeParams(datasetScope(viewer, action)),
  ]);
  return { access: row?.access ?? null, allowed: row?.allowed === true };
}

/** The viewer's access to dataset `datasetId`, or null when they may not read it or it does not exist. */
export async function findDatasetAccess(db: Queryable, viewer: Viewer, datasetId: string): Promise<DatasetAccess | null> {
  return (await datasetPermission(db, viewer, datasetId, "read")).access;
}

/**
 * For a statement scoped to `action` that found nothing to act on: the refusal to throw,
 * NOT_FOUND when the viewer may not read the dataset (or it is gone), FORBIDDEN when they
 * may read it but not do this.
 */
export async function refusalOf(db: Queryable, viewer: Viewer, datasetId: string, action: DatasetAction) {
  return datasetRefusal(await findDatasetAccess(db, viewer, datasetId), action);
}
