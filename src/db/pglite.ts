import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import type { Database, NotificationListener, Subscription, Transaction } from "./database.js";

/**
 * A `Database` on embedded PGlite: persisted in `dataDir`, or in memory when it is
 * `undefined` (tests). PGlite runs one statement at a time and holds the whole engine
 * for a transaction, so it is for one process: see `data-dir-lock.ts`.
 */
export async function openPglite(dataDir: string | undefined): Promise<Database> {
  // pg_trgm: trigram indexes for the substring search (migrations/007).
  const engine = await PGlite.create(dataDir ?? "memory://", { extensions: { pg_trgm } });
  return {
    engine: "pglite",
    async query<Row>(text: string, params?: readonly unknown[]) {
      const result = await engine.query<Row>(text, params as unknown[] | undefined);
      return result.rows;
    },
    async transaction<T>(work: (tx: Transaction) => Promise<T>) {
      return engine.transaction(async (inner) =>
        work({
          async query<Row>(text: string, params?: readonly unknown[]) {
            const result = await inner.query<Row>(text, params as unknown[] | undefined);
            return result.rows;
          },
          async script(sql: string) {
            await inner.exec(sql);
          },
        }),
      );
    },
    async close() {
      await engine.close();
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
