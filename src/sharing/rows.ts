import type { IsoTime } from "../db/timestamps.js";
import type { DatasetRole } from "../generated/graphql.js";
import type { UserRow } from "../users/rows.js";

/** A user a dataset is shared with, as stored (the GraphQL `DatasetCollaborator` mapper). */
export interface CollaboratorRow {
  datasetId: string;
  userId: string;
  role: DatasetRole;
  addedAt: IsoTime;
  /** Who shared it; null once their account is gone. */
  addedById: string | null;
  /** The collaborator's row, when it was read in the same statement (lists). */
  user?: UserRow;
}
