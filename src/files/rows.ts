import type { IsoTime } from "../db/timestamps.js";
import type { ConnectionModel, EdgeModel } from "../graphql/pagination.js";

/** A committed version as stored (the GraphQL `DatasetVersion` mapper). */
export interface VersionRow {
  datasetId: string;
  number: number;
  message: string | null;
  authorId: string | null;
  fileCount: number;
  totalSize: number;
  createdAt: IsoTime;
}

/** A file of a version (the GraphQL `DatasetFile` mapper): where its bytes are, and which. */
export interface FileRow {
  datasetId: string;
  version: number;
  path: string;
  sha256: string;
  size: number;
  contentType: string;
}

/** A finished or unfinished tus upload, as the uploads table holds it. */
export interface UploadRow {
  id: string;
  datasetId: string;
  userId: string;
  filename: string | null;
  contentType: string | null;
  declaredSha256: string | null;
  length: number | null;
  state: "receiving" | "finalizing" | "complete";
  sha256: string | null;
  size: number | null;
  expiresAt: IsoTime;
}

export type VersionEdgeModel = EdgeModel<VersionRow>;
export type VersionConnectionModel = ConnectionModel<VersionRow>;

/** What `Dataset.compareVersions` answers with (the GraphQL `VersionComparison` mapper); its changes are read when selected. */
export interface ComparisonModel {
  datasetId: string;
  base: VersionRow;
  head: VersionRow;
}

/** A path whose file differs between two versions (the GraphQL `FileDifference` mapper). */
export interface FileDifferenceModel {
  path: string;
  kind: "ADDED" | "REMOVED" | "MODIFIED";
  before: FileRow | null;
  after: FileRow | null;
}
