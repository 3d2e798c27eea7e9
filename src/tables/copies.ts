import type { Database } from "../db/database.js";
import type { BlobStore } from "../storage/blob-store.js";

/**
 * Removing columnar copies whose profile is gone (its dataset or its content deleted), or
 * whose attempt never stored its profile: migration 015 queues their addresses in
 * file_table_orphans. Bytes first, then the entry, so a failure leaves the entry for the
 * next sweep; deleting absent bytes is fine.
 */

const BATCH = 500;

const DUE = `select table_key as "key" from file_table_orphans where delete_after <= now() order by delete_after limit $1`;
const FORGET = `delete from file_table_orphans where table_key = $1 and delete_after <= now()`;

/** Removes every copy due; `removedLocally` also drops this instance's local copy. Returns how many went. */
export async function sweepTableCopies(database: Database, store: BlobStore, removedLocally?: (key: string) => Promise<void>): Promise<number> {
  let removed = 0;
  for (;;) {
    const due = await database.query<{ key: string }>(DUE, [BATCH]);
    for (const { key } of due) {
      await store.delete(key);
      await removedLocally?.(key);
      await database.query(FORGET, [key]);
      removed += 1;
    }
    if (due.length < BATCH) return removed;
  }
}
