import type { Transaction } from "../db/database.js";
import { quotaExceeded } from "../common/errors.js";
import * as sql from "./sql.js";

/**
 * What a commit costs the database, counted against the dataset owner's METADATA_QUOTA, so
 * that no user grows the database without bound with rows that hold no content (STORAGE_QUOTA
 * counts content bytes only): each version row with its message, each file row with its path.
 *
 * The figures follow what PostgreSQL 15 keeps (measured with 10,000 rows at a time, README
 * "Limits and statuses"): a version row about 120 bytes besides its message; a file row about
 * 250 bytes besides its path, and 5 to 6.5 bytes per byte of its path, which the row and two
 * B-tree indexes hold (long keys leave index pages emptier). migrations/011 counts the same
 * for the rows it converted; a dataset's count goes with it (datasets.metadata_bytes).
 */
export const VERSION_ROW_BYTES = 128;
export const FILE_ROW_BYTES = 256;
/** Bytes counted per byte of a file row's path. */
export const PATH_BYTE_WEIGHT = 6;

/** The bytes a version with `message` and the new file rows `files` adds. */
export function metadataBytes(message: string | null, files: ReadonlyArray<{ path: string; contentType: string }>): number {
  let total = VERSION_ROW_BYTES + (message === null ? 0 : Buffer.byteLength(message));
  for (const file of files) total += FILE_ROW_BYTES + PATH_BYTE_WEIGHT * Buffer.byteLength(file.path) + Buffer.byteLength(file.contentType);
  return total;
}

/**
 * Adds `bytes` to the dataset's count when the owner's datasets stay within `quota`; otherwise
 * QUOTA_EXCEEDED (the transaction rolls back: nothing is written). Under the owner's
 * per-user lock, so commits to two of their datasets at once cannot both take what is left.
 */
export async function meterCommit(tx: Transaction, ownerId: string, datasetId: string, bytes: number, quota: number): Promise<void> {
  await tx.query(sql.UPLOADER_LOCK, [ownerId]);
  const [row] = await tx.query<{ used: number }>(sql.METADATA_USED, [ownerId]);
  const used = row!.used;
  if (used + bytes > quota) {
    throw quotaExceeded(
      `The dataset's versions and file lists would take ${used + bytes} bytes of the database, past the owner's ${quota} (METADATA_QUOTA): delete datasets you no longer need, or commit fewer files`,
      { quota: "METADATA_QUOTA", used, needed: bytes, allowed: quota },
    );
  }
  await tx.query(sql.ADD_METADATA_BYTES, [datasetId, bytes]);
}
