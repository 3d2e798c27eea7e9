import DataLoader from "dataloader";
import type { Queryable, Transaction } from "../db/database.js";
import { tableFormatOf } from "./formats.js";
import type { ProfileJob } from "./queue.js";
import type { PreviewModel, PreviewRow } from "./rows.js";
import * as sql from "./sql.js";

const UNSUPPORTED: PreviewModel = { status: "UNSUPPORTED", format: null, compressed: null, rowCount: null, columns: null, rows: null, error: null };

/** A file as the previews see it: its content and its name. */
export interface PreviewedFile {
  sha256: string;
  path: string;
  contentType: string;
}

const keyOf = (job: ProfileJob) => `${job.sha256} ${job.format} ${job.compression}`;

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
      const rows = await this.db.query<PreviewRow>(sql.PREVIEWS, [parts.map((p) => p[0]), parts.map((p) => p[1]), parts.map((p) => p[2])]);
      const byKey = new Map(rows.map((row) => [keyOf(row), row]));
      return keys.map((key) => byKey.get(key) ?? null);
    });
    const row = await this.#loader.load(keyOf({ sha256: file.sha256, ...readAs }));
    return {
      status: row?.status ?? "PENDING",
      format: readAs.format,
      compressed: readAs.compression === "gzip",
      rowCount: row?.rowCount ?? null,
      columns: row?.columns ?? null,
      rows: row?.rows ?? null,
      error: row?.error ?? null,
    };
  }
}

/**
 * In a commit's transaction: a PENDING profile for each table among `files` whose content has
 * none yet, as read that way. Returns the ones made, which need a job; content profiled (or
 * queued) before, anywhere, is not profiled again.
 */
export async function insertPending(tx: Transaction, files: readonly PreviewedFile[]): Promise<ProfileJob[]> {
  const wanted = new Map<string, ProfileJob>();
  for (const file of files) {
    const readAs = tableFormatOf(file.path, file.contentType);
    if (readAs) wanted.set(keyOf({ sha256: file.sha256, ...readAs }), { sha256: file.sha256, ...readAs });
  }
  if (wanted.size === 0) return [];
  const jobs = [...wanted.values()];
  return tx.query<ProfileJob>(sql.INSERT_PENDING, [jobs.map((job) => job.sha256), jobs.map((job) => job.format), jobs.map((job) => job.compression)]);
}
