import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import type { PeriodicTask } from "../jobs/runner.js";
import type { BlobStore } from "../storage/blob-store.js";
import { sweepTableCopies } from "../tables/copies.js";
import type { HashingFileStore } from "../uploads/hashing-file-store.js";
import * as sql from "./sql.js";

/**
 * Removing content nothing needs any more, safely against a commit or an upload that
 * needs the same content at the same moment.
 *
 * The choice: reference checking under the blob row's lock, not a grace period. A blob's
 * row is deleted, and then its bytes, inside one transaction, and only while no version
 * file and no upload references it; the foreign keys (RESTRICT) make PostgreSQL re-check
 * that at the delete with the newest committed rows. An upload that finishes with the
 * same content upserts that row first, so it waits for a collector holding it and then
 * finds the bytes gone and writes its own (finish.ts). A grace period would keep
 * deleted datasets' bytes for its length and still need a lock at its edge.
 */

/** At most this many blobs or uploads per statement of a sweep. */
const BATCH = 500;
/** Any fixed 64-bit number: the one instance holding it sweeps, the others skip the round. */
const SWEEP_LOCK = 7_261_534_503;
/** A temporary write this old belongs to a process that is gone (a live one finishes in far less). */
const TEMPORARY_AGE_MS = 6 * 60 * 60 * 1000;

export interface GarbageCollector {
  /** Deletes each of these blobs (row and bytes) that nothing references; returns how many went. */
  collect(candidates: readonly string[]): Promise<number>;
  /**
   * `collect`, after the caller's answer rather than before it: how long deleting a dataset
   * takes must not tell whether other datasets hold the same content (whose bytes stay). A
   * failure is logged; the next sweep finds whatever is left unreferenced.
   */
  collectSoon(candidates: readonly string[]): void;
  /**
   * Bytes just stored under `sha256` for an upload that went meanwhile. Its deletion may have
   * collected the blob row while the bytes were on their way (deleting nothing), and nothing
   * would ever look at them again: the row is made again, then collected like any candidate,
   * so the bytes go unless a version or an upload references the content by now.
   */
  reclaim(sha256: string, size: number): Promise<void>;
  /** One sweep: expired uploads (rows and staged bytes), then every unreferenced blob, then stale temporary writes, then tables' columnar copies nothing needs. */
  sweep(): Promise<{ uploads: number; blobs: number; temporary: number; tableCopies: number }>;
}

export function createGarbageCollector(
  database: Database,
  store: BlobStore,
  staging: HashingFileStore,
  logger: Logger,
  /** A table's columnar copy was removed from storage: this instance's local copy goes too. */
  tableCopyRemoved?: (key: string) => Promise<void>,
): GarbageCollector {
  async function collectOne(sha256: string): Promise<boolean> {
    try {
      return await database.transaction(async (tx) => {
        const deleted = await tx.query(sql.DELETE_BLOB, [sha256]);
        if (deleted.length === 0) return false;
        // Still inside the transaction: a finishing upload of the same content waits on the row.
        await store.delete(sha256);
        return true;
      });
    } catch (error) {
      // 23503: a reference was committed between the check and the delete; the content stays.
      if ((error as { code?: string }).code === "23503") return false;
      throw error;
    }
  }

  async function collect(candidates: readonly string[]): Promise<number> {
    let removed = 0;
    for (const sha256 of new Set(candidates)) if (await collectOne(sha256)) removed += 1;
    return removed;
  }

  function collectSoon(candidates: readonly string[]) {
    // The dataset's profiles went with it (cascade), whatever happens to its content: their tables' copies are due now.
    collect(candidates)
      .then(() => sweepTableCopies(database, store, tableCopyRemoved))
      .catch((error) => logger.warn({ err: error }, "collecting a deleted dataset's content failed; the next sweep does it"));
  }

  async function reclaim(sha256: string, size: number): Promise<void> {
    await database.query(sql.UPSERT_BLOB, [sha256, size]);
    await collectOne(sha256);
  }

  async function removeExpiredUploads(): Promise<number> {
    let removed = 0;
    for (;;) {
      const expired = await database.query<{ id: string; state: string }>(sql.EXPIRED_UPLOADS, [BATCH]);
      for (const upload of expired) {
        if (upload.state === "receiving") await staging.remove(upload.id).catch(() => {});
        await database.query(sql.DELETE_UPLOAD, [upload.id]);
        removed += 1;
      }
      if (expired.length < BATCH) return removed;
    }
  }

  async function collectUnreferenced(): Promise<number> {
    let removed = 0;
    for (;;) {
      const rows = await database.query<{ sha256: string }>(sql.UNREFERENCED_BLOBS, [BATCH]);
      const collected = await collect(rows.map((row) => row.sha256));
      removed += collected;
      if (rows.length < BATCH || collected === 0) return removed;
    }
  }

  async function sweepNow() {
    const uploads = await removeExpiredUploads();
    const blobs = await collectUnreferenced();
    const temporary = (await store.sweepTemporary(TEMPORARY_AGE_MS)) + (await staging.deleteExpired().catch(() => 0));
    // After the blobs: a blob's deletion cascades to its profiles, whose copies are then due.
    const tableCopies = await sweepTableCopies(database, store, tableCopyRemoved);
    return { uploads, blobs, temporary, tableCopies };
  }

  /**
   * One instance at a time: on PostgreSQL the sweep runs while a transaction of its own
   * holds the advisory lock (a transaction-scoped lock also works behind pgbouncer); the
   * embedded database belongs to one process, which needs no lock.
   */
  async function sweep() {
    if (database.engine === "pglite") return sweepNow();
    return database.transaction(async (tx) => {
      const [row] = await tx.query<{ locked: boolean }>("select pg_try_advisory_xact_lock($1) as locked", [SWEEP_LOCK]);
      return row?.locked ? sweepNow() : { uploads: 0, blobs: 0, temporary: 0, tableCopies: 0 };
    });
  }

  return {
    collect,
    collectSoon,
    reclaim,
    sweep,
  };
}

/** The sweep as a periodic task of `src/jobs/runner.ts`: now, and every `intervalMs`. */
export function garbageSweepTask(garbage: GarbageCollector, intervalMs: number, logger: Logger): PeriodicTask {
  return {
    name: "files sweep",
    everyMs: intervalMs,
    atStart: true,
    async run() {
      const swept = await garbage.sweep();
      if (swept.uploads + swept.blobs + swept.temporary + swept.tableCopies > 0)
        logger.info({ swept }, "swept expired uploads and unreferenced content");
    },
    failed: "sweep of uploads and content failed; it runs again on the next round",
  };
}
