import type { DatasetAccess } from "../generated/graphql.js";
import type { ConnectionModel, EdgeModel } from "../graphql/pagination.js";
import type { UserRow } from "../users/rows.js";
import type { DatasetColumnsRow } from "./columns.js";

/**
 * A dataset as stored (the GraphQL `Dataset` mapper): its columns, as declared in
 * `columns.ts`; `owner` is resolved from `userId`.
 */
export interface DatasetRow extends DatasetColumnsRow {
  /**
   * The owner's row, when it was read in the same statement (admin lists): with only the
   * columns the selection below showed (`ListColumnGroups` in sql.ts).
   */
  owner?: UserRow;
  /** The viewer's access to it, when the statement that read it worked it out (`dataset(id)`). */
  access?: DatasetAccess;
}

/** A row of a list page: also the lower-cased name the name orders sort and page by. */
export interface DatasetListRow extends DatasetRow {
  sortName: string;
}

export type DatasetEdgeModel = EdgeModel<DatasetRow>;
export type DatasetConnectionModel = ConnectionModel<DatasetRow>;
