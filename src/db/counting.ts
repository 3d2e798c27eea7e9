import { fromCancelledStatement, tooManyStatements } from "../common/errors.js";
import { aroundStatements } from "./around-statements.js";
import type { Database } from "./database.js";

/** A `Database` view that counts the statements run through it (one per request). */
export interface CountingDatabase extends Database {
  readonly statementCount: number;
}

/**
 * Wraps `database` so that each statement run through the wrapper (inside transactions
 * too, but not BEGIN/COMMIT) adds one to `statementCount`. Cheap enough for every request.
 *
 * It is also the request's statement budget: once `maxStatements` have run, every further
 * statement is refused with REQUEST_TOO_EXPENSIVE before it reaches the database (inside a
 * transaction, that rolls the transaction back), so no request holds the pool for more
 * than that many round trips. A statement PostgreSQL cancels at its statement timeout
 * becomes the same code.
 */
export function countStatements(database: Database, maxStatements = Number.POSITIVE_INFINITY): CountingDatabase {
  let count = 0;
  const counted = aroundStatements(database, async (run) => {
    if (count >= maxStatements) throw tooManyStatements(maxStatements);
    count += 1;
    try {
      return await run();
    } catch (error) {
      throw fromCancelledStatement(error);
    }
  });
  return {
    ...counted,
    get statementCount() {
      return count;
    },
  };
}
