import pg from "pg";

/** What `Date.prototype.toISOString` writes for years 1 to 9999: what the API shows of every `DateTime`. */
export type IsoTime = string;

export const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The driver's own reading of a timestamptz (postgres-date), for what the fast path leaves. */
const parseAsDate = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, "text") as (text: string) => Date | number | null;

/**
 * A timestamptz as PostgreSQL writes it (DateStyle ISO: `2024-05-06 07:08:09.123+00`), as
 * the API shows it (`2024-05-06T07:08:09.123Z`), without making a `Date` of it and formatting
 * it again: both adapters read every timestamptz column through this. At UTC (the session's
 * TimeZone, which PostgreSQL's own default and PGlite's is), the text only moves; any other
 * offset, or a year outside 1 to 9999, goes through a `Date`, so the result is always what
 * `new Date(…).toISOString()` of the driver's parse would be (microseconds cut to milliseconds,
 * as the `Date` did).
 */
export function isoTimestamp(text: string): IsoTime {
  const length = text.length;
  // `YYYY-MM-DD HH:MM:SS` then an optional `.f…` (1 to 6 digits) then `+00`.
  if (
    length >= 22 &&
    text.charCodeAt(4) === 45 &&
    text.charCodeAt(10) === 32 &&
    text.endsWith("+00") &&
    (length === 22 || text.charCodeAt(19) === 46)
  ) {
    // Three digits or more (every row of a list brings two or more of these): two slices.
    if (length >= 26) return `${text.slice(0, 10)}T${text.slice(11, 23)}Z`;
    // Fewer (PostgreSQL drops a fraction's trailing zeros): padded to milliseconds.
    const fraction = length === 22 ? "" : text.slice(20, length - 3);
    return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction.padEnd(3, "0")}Z`;
  }
  const date = parseAsDate(text);
  if (date instanceof Date && !Number.isNaN(date.getTime())) return date.toISOString();
  // infinity, or nothing PostgreSQL writes: left as it is (the DateTime scalar refuses it).
  return text;
}
