import { ClientError, ErrorCode } from "../common/errors.js";

/** The errors of a row query, in our words: DuckDB's own text stays in the log. */

/** Over TABLE_QUERY_TIMEOUT, or DuckDB's memory limit. */
export const queryTooExpensive = (limit: "TABLE_QUERY_TIMEOUT" | "TABLE_READER_MEMORY_LIMIT") =>
  new ClientError(
    limit === "TABLE_QUERY_TIMEOUT"
      ? "This row query took longer than a query may: ask for less at once (a narrower filter, fewer sort columns, a smaller page)"
      : "This row query needs more memory than a query may use: ask for less at once (a narrower filter, fewer sort columns, a smaller page)",
    ErrorCode.REQUEST_TOO_EXPENSIVE,
    { limit },
  );

/** The reader stopped, or storage did not give the table: nothing about why is shown. */
export const tableUnavailable = () => new ClientError("The table could not be read just now: try again shortly", ErrorCode.SERVICE_UNAVAILABLE);
