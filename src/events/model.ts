import type { DatasetRow } from "../datasets/rows.js";
import type { VersionRow } from "../files/rows.js";
import type { DatasetEventType } from "./bus.js";

/**
 * One event as one subscriber gets it (the GraphQL `DatasetEvent` mapper): the dataset as
 * that subscriber may read it when the event arrived (null for DELETED), and the number of
 * the version it is about, read on delivery.
 */
export interface DatasetEventModel {
  type: DatasetEventType;
  datasetId: string;
  dataset: DatasetRow | null;
  versionNumber: number | null;
  /**
   * That version, when the hub read it with the event (once for every subscriber: a version
   * never changes); undefined: read on delivery.
   */
  version?: VersionRow | null;
  at: Date;
  /** PREVIEW_READY: the content whose profile settled (its paths are read on delivery); else null. */
  sha256: string | null;
}
