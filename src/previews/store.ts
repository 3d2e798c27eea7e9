import DataLoader from "dataloader";
import type { Queryable, Transaction } from "../db/database.js";
import { type ReadAs, tableFormatOf } from "./formats.js";
import { isSmall, type QueuedJob } from "./queue.js";
import type { PreviewModel, PreviewRow } from "./rows.js";
import * as sql from "./sql.js";

const UNSUPPORTED: PreviewModel = {
  status: "UNSUPPORTED",
  format: null,
  compressed: null,
  rowCount: null,
  columns: null,
  rows: null,
  error: null,
  table: null,
};

/** A file as the previews see it: its dataset, its content and its name. */
export interface PreviewedFile {
  datasetId: string;
  sha256: string;
  path: string;
  contentType: string;
}

/** A file being committed: its size decides its lane. */
export interface CommittedFile extends Omit<PreviewedFile, "datasetId"> {
  size: number;
}

/** A profile's key: it belongs to one dataset (migrations/012). */
type ProfileKey = ReadAs & { datasetId: string; sha256: string };
const keyOf = (key: ProfileKey) => `${key.datasetId} ${key.sha256} ${key.format} ${key.compression}`;

/**
 * The previews of one request's files, read in one statement however many files it shows.
 * A file that is not a table is UNSUPPORTED without a read; a table whose profile has no row
 * (content committed before previews existed) is PENDING like one that waits for its job.
 */
export class PreviewLoader {
  #loader?: DataLoader<string, PreviewRow | null>;
  constructor(private readonly db: Queryable) {}

  async load(file: PreviewedFile): Promise<PreviewModel> {
    const readAs = tableFormatOf(file.path, file.contentType);
    if (!readAs) return UNSUPPORTED;
    this.#loader ??= new DataLoader(async (keys) => {
      const parts = keys.map((key) => key.split(" "));
      const rows = await this.db.query<PreviewRow>(
        sql.PREVIEWS,
        [0, 1, 2, 3].map((index) => parts.map((part) => part[index])),
      );
      const byKey = new Map(rows.map((row) => [keyOf(row), row]));
      return keys.map((key) => byKey.get(key) ?? null);
    });
    const row = await this.#loader.load(keyOf({ datasetId: file.datasetId, sha256: file.sha256, ...readAs }));
    return {
      status: row?.status ?? "PENDING",
      format: readAs.format,
      compressed: readAs.compression === "gzip",
      rowCount: row?.rowCount ?? null,
      columns: row?.columns ?? null,
      rows: row?.rows ?? null,
      error: row?.error ?? null,
      table:
        row?.status === "READY" && row.tableKey && row.profiles && row.rowCount !== null
          ? { sha256: row.sha256, ...readAs, rowCount: row.rowCount, tableKey: row.tableKey, profiles: row.profiles }
          : null,
    };
  }
}

/** Who commits the files, where, and the version they make. */
export interface CommitOrigin {
  datasetId: string;
  userId: string;
  version: number;
}

/** Within the one dataset: content keyed by the way it is read. */
const inDataset = (key: ReadAs & { sha256: string }) => `${key.sha256} ${key.format} ${key.compression}`;

/** The tables among `files`, each content and way of reading once. */
function tablesOf(files: readonly CommittedFile[]): Map<string, { readAs: ReadAs; sha256: string; size: number }> {
  const wanted = new Map<string, { readAs: ReadAs; sha256: string; size: number }>();
  for (const file of files) {
    const readAs = tableFormatOf(file.path, file.contentType);
    if (readAs) wanted.set(inDataset({ sha256: file.sha256, ...readAs }), { readAs, sha256: file.sha256, size: file.size });
  }
  return wanted;
}

/**
 * In a commit's transaction: the content among `files` whose profile this dataset already has,
 * settled (profiled for an earlier version): no job will announce it, so the commit does.
 * Only this dataset's profiles are looked at, so the answer tells nothing of anyone else's bytes.
 */
export async function settledContent(tx: Transaction, datasetId: string, files: readonly CommittedFile[]): Promise<string[]> {
  const wanted = [...tablesOf(files).values()];
  if (wanted.length === 0) return [];
  const rows = await tx.query<{ sha256: string }>(sql.SETTLED_CONTENT, [
    datasetId,
    wanted.map((file) => file.sha256),
    wanted.map((file) => file.readAs.format),
    wanted.map((file) => file.readAs.compression),
  ]);
  // One announcement per content (FOR SHARE takes no DISTINCT: the same bytes read two ways are two rows).
  return [...new Set(rows.map((row) => row.sha256))];
}

/**
 * The paths of a dataset's version holding `sha256` whose preview has settled: what a
 * PREVIEW_READY names. Read through the request's preview loader, so as the subscriber sees them.
 */
export async function settledPaths(
  db: Queryable,
  previews: PreviewLoader,
  target: { datasetId: string; version: number; sha256: string },
): Promise<string[]> {
  const files = await db.query<{ path: string; contentType: string }>(sql.PATHS_HOLDING, [target.datasetId, target.version, target.sha256]);
  const statuses = await Promise.all(
    files.map((file) => previews.load({ datasetId: target.datasetId, sha256: target.sha256, path: file.path, contentType: file.contentType })),
  );
  return files.filter((_file, index) => statuses[index]!.status === "READY" || statuses[index]!.status === "FAILED").map((file) => file.path);
}

/**
 * In a commit's transaction: a PENDING profile for each table among `files` whose content the
 * dataset has none of yet, as read that way. Returns the jobs to queue for the ones made. The
 * same bytes in another dataset, anyone's, are not looked at: a profile made there would tell
 * this committer that someone holds them.
 *
 * Each job's priority is its user's place: minus the previews they have queued already, so a
 * user with many waiting goes after everyone else's first.
 */
export async function insertPending(
  tx: Transaction,
  origin: CommitOrigin,
  files: readonly CommittedFile[],
  smallFileBytes: number,
): Promise<QueuedJob[]> {
  const wanted = tablesOf(files);
  if (wanted.size === 0) return [];
  const [queued] = await tx.query<{ count: number }>(sql.PENDING_OF_USER, [origin.userId]);
  const candidates = [...wanted.values()];
  const made = await tx.query<ProfileKey>(sql.INSERT_PENDING, [
    origin.datasetId,
    origin.userId,
    candidates.map((file) => file.sha256),
    candidates.map((file) => file.readAs.format),
    candidates.map((file) => file.readAs.compression),
  ]);
  const ahead = queued?.count ?? 0;
  return made.map((row, index) => {
    const { size } = wanted.get(inDataset(row))!;
    const data = { datasetId: row.datasetId, sha256: row.sha256, format: row.format, compression: row.compression };
    return { data, small: isSmall(row, size, smallFileBytes), priority: -(ahead + index) };
  });
}
