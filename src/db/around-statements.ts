import type { Database, Transaction } from "./database.js";

/** Runs one statement; what a wrapper does around it (count it, time it). */
export type AroundStatement = <T>(run: () => Promise<T>) => Promise<T>;

/**
 * `database` with `around` wrapped about every statement it runs, inside transactions too
 * (but not BEGIN/COMMIT). The one place that knows the `Database` shape for wrappers.
 */
export function aroundStatements(database: Database, around: AroundStatement): Database {
  return {
    engine: database.engine,
    query: (text, params) => around(() => database.query(text, params)),
    queryArrays: (text, params) => around(() => database.queryArrays(text, params)),
    transaction: (work) =>
      database.transaction((tx) => {
        const wrapped: Transaction = {
          query: (text, params) => around(() => tx.query(text, params)),
          queryArrays: (text, params) => around(() => tx.queryArrays(text, params)),
          script: (sql) => around(() => tx.script(sql)),
          afterCommit: (callback) => tx.afterCommit(callback),
        };
        return work(wrapped);
      }),
    close: () => database.close(),
    poolStats: () => database.poolStats?.(),
    listen: (channel, listener) => database.listen(channel, listener),
  };
}
