import type { Compression, TableFormat } from "./formats.js";
import type { FileColumnProfile } from "./run-reader.js";

/** A stored profile (migrations/009, 012): one dataset's. */
export interface PreviewRow {
  datasetId: string;
  sha256: string;
  format: TableFormat;
  compression: Compression;
  status: "PENDING" | "READY" | "FAILED";
  rowCount: number | null;
  columns: FileColumnProfile[] | null;
  rows: unknown[][] | null;
  error: string | null;
}

/** What the GraphQL `FilePreview` is built from (its mapper): a stored profile, or UNSUPPORTED. */
export interface PreviewModel {
  status: "PENDING" | "READY" | "FAILED" | "UNSUPPORTED";
  format: TableFormat | null;
  compressed: boolean | null;
  rowCount: number | null;
  columns: FileColumnProfile[] | null;
  rows: unknown[][] | null;
  error: string | null;
}
