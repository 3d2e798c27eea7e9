import type { DatasetRow } from "../datasets/rows.js";
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
  at: Date;
}
