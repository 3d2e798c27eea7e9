import type { Database, Transaction } from "./database.js";

/** A `Database` view that counts the statements run through it (one per request). */
export interface CountingDatabase extends Database {
  readonly statementCount: number;
}

/**
 * Wraps `database` so that each statement run through the wrapper (inside transactions
 * too, but not BEGIN/COMMIT) adds one to `statementCount`. Cheap enough for every request.
 */
export function countStatements(database: Database): CountingDatabase {
  let count = 0;
  return {
    engine: database.engine,
    get statementCount() {
      return count;
    },
    query(text, params) {
      count += 1;
      return database.query(text, params);
    },
    transaction(work) {
      return database.transaction((tx) => {
        const counted: Transaction = {
          query(text, params) {
            count += 1;
            return tx.query(text, params);
          },
          script(sql) {
            count += 1;
            return tx.script(sql);
          },
        };
        return work(counted);
      });
    },
    close: () => database.close(),
    poolStats: () => database.poolStats?.(),
  };
}
