import { aroundStatements } from "./around-statements.js";
import type { Database } from "./database.js";

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
  const counted = aroundStatements(database, (run) => {
    count += 1;
    return run();
  });
  return {
    ...counted,
    get statementCount() {
      return count;
    },
  };
}
