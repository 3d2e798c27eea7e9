import { type Columns, insertedColumn, readColumn, type RowOf, writableColumn } from "../db/columns.js";
import type { IsoTime } from "../db/timestamps.js";
import type { DatasetVisibility } from "../generated/graphql.js";

/**
 * The datasets table's columns, declared once: each `DatasetRow` property, its column, and
 * how the statements write it. The select lists, the insert (every column written on
 * insert) and the update (every writable column) are built from this at start-up
 * (src/datasets/sql.ts), and the store passes their values by name, so a plain column is
 * added here and in its migration, not in any statement.
 */
export const DATASET_COLUMNS = {
  id: readColumn<string>("id"),
  userId: insertedColumn<string>("user_id"),
  name: writableColumn<string>("name", "text"),
  description: writableColumn<string | null>("description", "text"),
  filePath: writableColumn<string | null>("file_path", "text"),
  // Publishing (migrations/013): who reads it, and its card.
  visibility: writableColumn<DatasetVisibility>("visibility", "text"),
  license: writableColumn<string | null>("license", "text"),
  tags: writableColumn<string[]>("tags", "text[]"),
  readme: writableColumn<string | null>("readme", "text"),
  createdAt: readColumn<IsoTime>("created_at"),
  updatedAt: readColumn<IsoTime>("updated_at"),
} as const satisfies Columns;

/** A dataset's own columns (`DatasetRow` adds what other tables and the viewer bring). */
export type DatasetColumnsRow = RowOf<typeof DATASET_COLUMNS>;
