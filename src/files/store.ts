import DataLoader from "dataloader";
import type { Queryable } from "../db/database.js";
import { badUserInput } from "../common/errors.js";
import { decodeCursor, encodeCursor, separateCount } from "../graphql/pagination.js";
import type { FileRow, VersionRow } from "./rows.js";
import * as sql from "./sql.js";

/** A version named by its dataset and number: the loaders' key. */
const versionKey = (datasetId: string, number: number) => `${datasetId} ${number}`;
const splitKeys = (keys: readonly string[]) => {
  const pairs = keys.map((key) => key.split(" ") as [string, string]);
  return [pairs.map(([id]) => id), pairs.map(([, number]) => Number(number))] as const;
};

/**
 * Per-request loaders of versions and their files, so a page of datasets with their latest
 * versions and files costs one statement for the versions and one for the files.
 * Built on first use: most requests never touch a file.
 */
export class FileLoaders {
  #latest?: DataLoader<string, VersionRow | null>;
  #versions?: DataLoader<string, VersionRow | null>;
  #files?: DataLoader<string, FileRow[]>;
  /** Each version's file count, as its resolver knew it (and charged it to the request's cost). */
  readonly #fileCounts = new Map<string, number>();
  constructor(private readonly db: Queryable) {}

  latestVersion(datasetId: string): Promise<VersionRow | null> {
    this.#latest ??= new DataLoader(async (ids) => {
      const rows = await this.db.query<VersionRow>(sql.LATEST_VERSIONS, [ids]);
      const byDataset = new Map(rows.map((row) => [row.datasetId, row]));
      return ids.map((id) => byDataset.get(id) ?? null);
    });
    return this.#latest.load(datasetId);
  }

  version(datasetId: string, number: number): Promise<VersionRow | null> {
    this.#versions ??= new DataLoader(async (keys) => {
      const rows = await this.db.query<VersionRow>(sql.VERSIONS_BY_NUMBER, splitKeys(keys));
      const byKey = new Map(rows.map((row) => [versionKey(row.datasetId, row.number), row]));
      return keys.map((key) => byKey.get(key) ?? null);
    });
    return this.#versions.load(versionKey(datasetId, number));
  }

  /**
   * The files of a version that holds `fileCount` of them (up to 10,000). Its resolver has
   * charged the count to the request's cost already (cost-budget.ts), so many versions'
   * lists in one request are refused before they are read rather than built in memory.
   */
  files(datasetId: string, number: number, fileCount: number): Promise<FileRow[]> {
    this.#fileCounts.set(versionKey(datasetId, number), fileCount);
    this.#files ??= new DataLoader(async (keys) => {
      // A backstop: the versions' counts are what was charged, and all there is to read.
      const limit = keys.reduce((sum, key) => sum + (this.#fileCounts.get(key) ?? 0), 0);
      const rows = await this.db.query<FileRow>(sql.FILES_OF_VERSIONS, [...splitKeys(keys), limit]);
      const byKey = new Map<string, FileRow[]>(keys.map((key) => [key, []]));
      for (const row of rows) byKey.get(versionKey(row.datasetId, row.version))!.push(row);
      return keys.map((key) => byKey.get(key)!);
    });
    return this.#files.load(versionKey(datasetId, number));
  }
}

/** A page of a dataset's versions, newest first, with its count. */
export async function listVersions(db: Queryable, datasetId: string, before: number | null, limit: number) {
  const rows = await db.query<VersionRow & { totalCount: number }>(sql.VERSION_PAGE, [datasetId, before, limit]);
  return separateCount(rows, before === null);
}

export async function countVersions(db: Queryable, datasetId: string): Promise<number> {
  const [row] = await db.query<{ count: number }>(sql.VERSION_COUNT, [datasetId]);
  return row!.count;
}

const VERSION_LIST = "versions";
export const encodeVersionCursor = (version: VersionRow) => encodeCursor([VERSION_LIST, version.number]);

/** The version number after which a page continues; BAD_USER_INPUT for any other cursor. */
export function decodeVersionCursor(after: string): number {
  const [tag, number, ...rest] = decodeCursor(after);
  if (tag !== VERSION_LIST || rest.length > 0 || !Number.isInteger(number) || (number as number) < 1) {
    throw badUserInput("after", "after is not a cursor issued by this server for versions");
  }
  return number as number;
}

/** The file at `path` of a version, if there is one. */
export async function findFile(db: Queryable, datasetId: string, version: number, path: string): Promise<FileRow | null> {
  const [row] = await db.query<FileRow>(sql.FILE_AT_PATH, [datasetId, version, path]);
  return row ?? null;
}

/** Bytes `userId` has stored, as the quota counts them, leaving out upload `except`. */
export async function storageUsed(db: Queryable, userId: string, except: string | null = null): Promise<number> {
  const [row] = await db.query<{ used: number }>(sql.STORAGE_USED, [userId, except]);
  return row!.used;
}
