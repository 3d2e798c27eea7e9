import { badUserInput } from "../common/errors.js";

/**
 * The columns a row query may name, and the values a filter may compare them with: each value
 * coerced here to its column's type, or refused as BAD_USER_INPUT naming where it is, before
 * anything runs. A coerced value goes to DuckDB as a text parameter cast to a type named
 * from the fixed set below (never a type name taken from the file), so no value fails in
 * DuckDB once it passed here.
 */

/** How a column's values compare. (src/previews/column-stats.mjs classifies the same way for the profiles; it is plain JavaScript for the reader process.) */
export type ColumnKind = "integer" | "fractional" | "date" | "timestamp" | "text" | "boolean" | "other";

/** The inclusive range of each integer type. */
const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  TINYINT: [-(2n ** 7n), 2n ** 7n - 1n],
  SMALLINT: [-(2n ** 15n), 2n ** 15n - 1n],
  INTEGER: [-(2n ** 31n), 2n ** 31n - 1n],
  BIGINT: [-(2n ** 63n), 2n ** 63n - 1n],
  HUGEINT: [-(2n ** 127n), 2n ** 127n - 1n],
  UTINYINT: [0n, 2n ** 8n - 1n],
  USMALLINT: [0n, 2n ** 16n - 1n],
  UINTEGER: [0n, 2n ** 32n - 1n],
  UBIGINT: [0n, 2n ** 64n - 1n],
  UHUGEINT: [0n, 2n ** 128n - 1n],
};

/** A column of the columnar copy, as a row query sees it. */
export interface QueryColumn {
  name: string;
  /** Its name in the copy: c<index>, never the file's own name. */
  ref: string;
  kind: ColumnKind;
  /** The type a value is cast to before it is compared; null when the column takes no values. */
  castTo: string | null;
}

/** The copy's column `index` of type `storedType` (DuckDB's name), named `name` in the file. */
export function queryColumn(name: string, index: number, storedType: string): QueryColumn {
  const ref = `c${index}`;
  if (storedType in INTEGER_RANGES) return { name, ref, kind: "integer", castTo: storedType };
  if (storedType === "FLOAT") return { name, ref, kind: "fractional", castTo: "FLOAT" };
  if (storedType === "DOUBLE" || /^DECIMAL\(\d+,\d+\)$/.test(storedType)) return { name, ref, kind: "fractional", castTo: "DOUBLE" };
  if (storedType === "DATE") return { name, ref, kind: "date", castTo: "DATE" };
  if (storedType === "TIMESTAMP WITH TIME ZONE") return { name, ref, kind: "timestamp", castTo: "TIMESTAMPTZ" };
  if (/^TIMESTAMP(_S|_MS|_NS)?$/.test(storedType)) return { name, ref, kind: "timestamp", castTo: "TIMESTAMP" };
  if (storedType === "VARCHAR") return { name, ref, kind: "text", castTo: "VARCHAR" };
  if (storedType === "BOOLEAN") return { name, ref, kind: "boolean", castTo: "BOOLEAN" };
  return { name, ref, kind: "other", castTo: null };
}

/** The longest text a filter compares with. */
export const MAX_TEXT_VALUE = 10_000;

const WHOLE = /^-?\d{1,40}$/;
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** Whether year, month and day name a real day (years 1 to 9999). */
function isDay(year: number, month: number, day: number): boolean {
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const KIND_WORDS: Record<ColumnKind, string> = {
  integer: "a whole number",
  fractional: "a number",
  date: 'a date as "YYYY-MM-DD"',
  timestamp: 'a timestamp as "YYYY-MM-DD HH:MM:SS"',
  text: "a string",
  boolean: "true or false",
  other: "no value",
};

/**
 * `value` as the text of a parameter cast to `column.castTo`, or BAD_USER_INPUT on `field`
 * when it does not fit the column's type.
 */
export function coerceValue(column: QueryColumn, value: unknown, field: string): string {
  const refuse = (): never => {
    throw badUserInput(
      field,
      `${field} must be ${KIND_WORDS[column.kind]} to compare with column "${column.name}" (${column.castTo ?? "not comparable"})`,
    );
  };
  switch (column.kind) {
    case "integer": {
      const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : typeof value === "string" ? value.trim() : refuse();
      if (!WHOLE.test(text)) return refuse();
      const [low, high] = INTEGER_RANGES[column.castTo!]!;
      const whole = BigInt(text);
      if (whole < low || whole > high) return refuse();
      return whole.toString();
    }
    case "fractional": {
      if (typeof value === "number" && Number.isFinite(value)) return String(value);
      if (typeof value === "string" && DECIMAL.test(value.trim()) && Number.isFinite(Number(value))) return value.trim();
      return refuse();
    }
    case "date": {
      const found = typeof value === "string" ? DATE.exec(value) : null;
      if (!found || !isDay(Number(found[1]), Number(found[2]), Number(found[3]))) return refuse();
      return value as string;
    }
    case "timestamp": {
      const found = typeof value === "string" ? TIMESTAMP.exec(value) : null;
      if (!found || !isDay(Number(found[1]), Number(found[2]), Number(found[3]))) return refuse();
      const [hour, minute, second] = [found[4], found[5], found[6]].map((part) => Number(part ?? 0));
      if (hour! > 23 || minute! > 59 || second! > 59) return refuse();
      // A time zone only where the column has one: a plain TIMESTAMP is no particular place's.
      if (found[7] !== undefined && column.castTo !== "TIMESTAMPTZ") {
        throw badUserInput(field, `${field}: column "${column.name}" has timestamps without a time zone; give one without an offset`);
      }
      return value as string;
    }
    case "text":
      if (typeof value === "string" && value.length > MAX_TEXT_VALUE) {
        throw badUserInput(field, `${field} is longer than ${MAX_TEXT_VALUE} characters`);
      }
      return typeof value === "string" ? value : refuse();
    case "boolean":
      return typeof value === "boolean" ? String(value) : refuse();
    case "other":
      return refuse();
  }
}
