import type { AuditLog } from "../audit/events.js";
import type { NullsOptional, WritableRow } from "../db/columns.js";
import type { Queryable } from "../db/database.js";
import type { DatasetOrder, DatasetVisibility } from "../generated/graphql.js";
import { type DatasetListScope, type DatasetScope, scopeParams } from "../policy/dataset-access.js";
import { containsPattern } from "../common/search.js";
import type { DATASET_COLUMNS } from "./columns.js";
import type { DatasetCursor } from "./ordering.js";
import type { DatasetListRow, DatasetRow } from "./rows.js";
import * as sql from "./sql.js";

/** Which datasets a list covers: the policy's scope, and a search within it. */
export interface DatasetListFilter {
  scope: DatasetListScope;
  /** Case-insensitive substring of name or description, taken literally. */
  search: string | null;
  /** Only these datasets (a personal access token's list, `datasetLimit`); null or absent: no limit. */
  only?: readonly string[] | null;
}

/** A page of datasets and what was read with it. */
export interface DatasetPage {
  /** With each row's `owner` when the owners were asked for. */
  rows: DatasetListRow[];
  /** How many datasets the filter covers, when asked for; otherwise null. */
  totalCount: number | null;
}

/** One page in `order`, with the `extras` asked for read in the same statement. */
export async function listDatasets(
  db: Queryable,
  filter: DatasetListFilter,
  order: DatasetOrder,
  after: DatasetCursor | null,
  limit: number,
  extras: sql.ListExtras,
): Promise<DatasetPage> {
  const pattern = containsPattern(filter.search);
  const only = filter.only ?? null;
  const shape = { ...extras, scope: sql.listScope(filter.scope), search: pattern !== null, limited: only !== null, after: after !== null };
  const statement = sql.datasetList(order, shape, limit);
  const listed = await db.queryArrays(
    statement.text,
    statement.params({ subject: scopeSubject(filter.scope), pattern, only, afterKey: after?.key ?? null, afterId: after?.id ?? null, limit }),
  );
  return { rows: listed.map(statement.row), totalCount: countOf(listed, statement.countAt, after === null) };
}

/**
 * The count a page was read with (every row holds it): none when the statement did not read
 * it; an empty page brings none either, which on a first page means 0 and after a cursor is
 * unknown (null: counted on demand), as `separateCount` says.
 */
function countOf(listed: readonly unknown[][], countAt: number | null, firstPage: boolean): number | null {
  if (countAt === null) return null;
  if (listed.length === 0) return firstPage ? 0 : null;
  return listed[0]![countAt] as number;
}

/** A list's first parameter: the owner (null: every owner), or the user the datasets are shared with. */
const scopeSubject = (scope: DatasetListScope) => (scope.kind === "owner" ? scope.ownerId : scope.userId);

export async function countDatasets(db: Queryable, filter: DatasetListFilter): Promise<number> {
  const pattern = containsPattern(filter.search);
  const only = filter.only ?? null;
  const statement = sql.datasetCount({ scope: sql.listScope(filter.scope), search: pattern !== null, limited: only !== null });
  const [row] = await db.query<{ count: number }>(
    statement.text,
    statement.params({ subject: scopeSubject(filter.scope), pattern, only, afterKey: null, afterId: null, limit: 0 }),
  );
  return row!.count;
}

/** The dataset with `id`, with the viewer's access to it, if `scope` allows reading it. */
export async function findDataset(db: Queryable, id: string, scope: DatasetScope): Promise<DatasetRow | null> {
  const [row] = await db.query<DatasetRow>(sql.DATASET_BY_ID, [id, ...scopeParams(scope)]);
  return row ?? null;
}

/**
 * A new dataset's fields: every column the declaration lets the client write (columns.ts); one
 * left out that may be null is null, and a visibility or tags left out are PRIVATE and none.
 */
export type NewDataset = Omit<NullsOptional<WritableRow<typeof DATASET_COLUMNS>>, "visibility" | "tags"> &
  Partial<Pick<WritableRow<typeof DATASET_COLUMNS>, "visibility" | "tags">>;

/** Fields to change; `undefined` leaves a field as it is. */
export type DatasetChanges = Partial<WritableRow<typeof DATASET_COLUMNS>>;

export async function insertDataset(db: Queryable, audit: AuditLog, ownerId: string, dataset: NewDataset): Promise<DatasetRow> {
  const values = { ...dataset, visibility: dataset.visibility ?? "PRIVATE", tags: dataset.tags ?? [], userId: ownerId };
  const [row] = await audit.query<DatasetRow>(db, sql.INSERT_DATASET, sql.INSERT_DATASET.params(values));
  return row!;
}

/** Applies `changes` if `scope` allows it; null when it does not (or the dataset is gone). */
export async function updateDataset(
  db: Queryable,
  audit: AuditLog,
  id: string,
  scope: DatasetScope,
  changes: DatasetChanges,
): Promise<DatasetRow | null> {
  // A change of visibility is audited with what it was: read under the row's lock, within the same scope.
  const before =
    changes.visibility === undefined
      ? undefined
      : (await db.query<{ visibility: DatasetVisibility }>(sql.LOCK_VISIBILITY, [id, ...scopeParams(scope)]))[0]?.visibility;
  const [row] = await audit.query<DatasetRow>(db, sql.UPDATE_DATASET, sql.UPDATE_DATASET.params({ id, scope: scopeParams(scope), changes }));
  if (row && before !== undefined && before !== row.visibility) {
    await audit.record(db, {
      type: "dataset.visibility_changed",
      actorId: scope.userId,
      subjectId: id,
      details: { before, after: row.visibility },
    });
  }
  return row ?? null;
}

/**
 * Deletes the dataset if `scope` allows it, with its versions, uploads and shares; returns
 * the content addresses they used (for the garbage collector) and its unfinished uploads
 * (whose staged bytes go too), or null when `scope` does not allow it (or it is gone).
 */
export async function deleteDataset(
  db: Queryable,
  audit: AuditLog,
  id: string,
  scope: DatasetScope,
): Promise<{ content: string[]; uploads: string[] } | null> {
  const [row] = await audit.query<{ content: string[]; uploads: string[] }>(db, sql.DELETE_DATASET, [id, ...scopeParams(scope)]);
  return row ?? null;
}

/** The datasets among `ids` that `scope` allows (any order of `ids`; the others left out). */
export function findDatasets(db: Queryable, ids: readonly string[], scope: DatasetScope): Promise<DatasetRow[]> {
  return db.query<DatasetRow>(sql.DATASETS_BY_IDS, [ids, ...scopeParams(scope)]);
}
