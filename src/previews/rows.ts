import type { Compression, TableFormat } from "./formats.js";
import type { FileColumnProfile, StoredColumnProfile } from "./run-reader.js";

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
  /** Column profiles and the columnar copy's address (migration 015): null before it, and unless READY. */
  profiles: StoredColumnProfile[] | null;
  tableKey: string | null;
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
  /** The table to explore: READY with a columnar copy (migration 015), else null. */
  table: PreviewTable | null;
}

/** A READY profile's table: its columnar copy in storage and its column profiles. */
export interface PreviewTable {
  /** The content and the way it is read: a row query's cursor belongs to them. */
  sha256: string;
  format: TableFormat;
  compression: Compression;
  rowCount: number;
  tableKey: string;
  profiles: StoredColumnProfile[];
}
