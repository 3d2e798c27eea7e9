import type { Queryable } from "../db/database.js";
import type { FileDifferenceModel, FileRow } from "./rows.js";
import * as sql from "./sql.js";

/** A row of VERSION_DIFFERENCES: one path, its file on each side (nulls where absent). */
interface DifferenceRow {
  path: string;
  beforeSha256: string | null;
  beforeSize: number | null;
  beforeContentType: string | null;
  afterSha256: string | null;
  afterSize: number | null;
  afterContentType: string | null;
}

function sideOf(
  datasetId: string,
  version: number,
  path: string,
  sha256: string | null,
  size: number | null,
  contentType: string | null,
): FileRow | null {
  return sha256 === null ? null : { datasetId, version, path, sha256, size: size!, contentType: contentType! };
}

/**
 * The files that differ between versions `base` and `head` of a dataset (both committed:
 * the caller found them), in path order: one statement over the two manifests, reading no
 * file. `limit` is what both versions hold together, the most there can be.
 */
export async function versionDifferences(
  db: Queryable,
  datasetId: string,
  base: number,
  head: number,
  limit: number,
): Promise<FileDifferenceModel[]> {
  const rows = await db.query<DifferenceRow>(sql.VERSION_DIFFERENCES, [datasetId, base, head, limit]);
  return rows.map((row) => {
    const before = sideOf(datasetId, base, row.path, row.beforeSha256, row.beforeSize, row.beforeContentType);
    const after = sideOf(datasetId, head, row.path, row.afterSha256, row.afterSize, row.afterContentType);
    return { path: row.path, kind: before === null ? "ADDED" : after === null ? "REMOVED" : "MODIFIED", before, after };
  });
}
