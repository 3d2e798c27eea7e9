import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import { lockDataDir } from "./data-dir-lock.js";
import { type Database, type NotificationListener, type Subscription, type Transaction, withAfterCommit } from "./database.js";
import { isoTimestamp } from "./timestamps.js";

/** PostgreSQL's type oid of timestamptz. */
const TIMESTAMPTZ = 1184;

export interface PgliteOptions {
  /**
   * A new database's files to start from (PGlite's `dumpDataDir` of a database just made),
   * instead of making them: making them (initdb) is most of an in-memory database's opening
   * time, several seconds on a busy machine, and the suite opens one for every server it starts.
   */
  initialDataDir?: Blob;
}

/**
 * A `Database` on embedded PGlite: persisted in `dataDir/pglite`, or in memory when
 * `dataDir` is `undefined` (tests). PGlite runs one statement at a time and holds the
 * whole engine for a transaction, so a folder is for one process: opening takes the
 * folder's lock (`data-dir-lock.ts`, `DataDirBusyError` while another process holds it)
 * and closing releases it, whoever opens it (the server, `migrate`, `create-admin`).
 */
export async function openPglite(dataDir: string | undefined, options: PgliteOptions = {}): Promise<Database> {
  const unlock = dataDir === undefined ? async () => {} : await lockDataDir(dataDir);
  let engine: PGlite;
  try {
    // pg_trgm: trigram indexes for the substring search (migrations/007).
    engine = await PGlite.create(dataDir === undefined ? "memory://" : join(dataDir, "pglite"), {
      extensions: { pg_trgm },
      ...(options.initialDataDir === undefined ? {} : { loadDataDir: options.initialDataDir }),
      // Timestamps as ISO text, as the PostgreSQL adapter reads them (timestamps.ts).
      parsers: { [TIMESTAMPTZ]: isoTimestamp },
    });
  } catch (error) {
    await unlock();
    throw error;
  }
  return {
    engine: "pglite",
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await engine.query<Row>(text, params as unknown[] | undefined);
      return result.rows;
    },
    async queryArrays(text: string, params?: readonly unknown[]) {
      const result = await engine.query<unknown[]>(text, params as unknown[] | undefined, { rowMode: "array" });
      return result.rows;
    },
    async transaction<T>(work: (tx: Transaction) => Promise<T>) {
      return withAfterCommit((afterCommit) =>
        engine.transaction(async (inner) =>
          work({
            async query<Row>(text: string, params?: readonly unknown[]) {
              const result = await inner.query<Row>(text, params as unknown[] | undefined);
              return result.rows;
            },
            async queryArrays(text: string, params?: readonly unknown[]) {
              const result = await inner.query<unknown[]>(text, params as unknown[] | undefined, { rowMode: "array" });
              return result.rows;
            },
            async script(sql: string) {
              await inner.exec(sql);
            },
            afterCommit,
          }),
        ),
      );
    },
    async close() {
      try {
        await engine.close();
      } finally {
        await unlock();
      }
    },
    // In-process: notifications arrive as the notifying statement (or its COMMIT) returns,
    // and there is no connection to lose.
    async listen(channel: string, listener: NotificationListener): Promise<Subscription> {
      const unlisten = await engine.listen(channel, (payload) => listener.notification(payload));
      listener.listening();
      // Closing the engine ends every subscription: nothing left to undo then.
      return { close: () => (engine.closed ? Promise.resolve() : unlisten()) };
    },
  };
}
