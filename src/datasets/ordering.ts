import type { DatasetOrder } from "../generated/graphql.js";
import { badUserInput } from "../common/errors.js";
import { decodeCursor, encodeCursor, isIssuedTime } from "../graphql/pagination.js";
import { checkId } from "../common/validation.js";
import type { DatasetListRow } from "./rows.js";

/**
 * How each `DatasetOrder` sorts and pages: the SQL sort key (with `id` as the tie-break),
 * and how a row's key goes into a cursor. The SQL expressions match the indexes in
 * migrations/001, so every order is an index scan.
 */
export interface Ordering {
  /**
   * The SQL expression sorted on; always followed by `id` in the same direction. Qualified
   * with the table's name, so that it stays unambiguous when the owners are joined.
   */
  sqlKey: string;
  sqlKeyType: "timestamptz" | "text";
  direction: "asc" | "desc";
  /** The key of a row, as it goes into a cursor. */
  keyOf(row: DatasetListRow): string;
}

const byCreatedAt = (direction: Ordering["direction"]): Ordering => ({
  sqlKey: "datasets.created_at",
  sqlKeyType: "timestamptz",
  direction,
  keyOf: (row) => row.createdAt,
});

const byName = (direction: Ordering["direction"]): Ordering => ({
  sqlKey: `lower(datasets.name) collate "C"`,
  sqlKeyType: "text",
  direction,
  keyOf: (row) => row.sortName,
});

export const ORDERINGS: Record<DatasetOrder, Ordering> = {
  CREATED_AT_DESC: byCreatedAt("desc"),
  CREATED_AT_ASC: byCreatedAt("asc"),
  NAME_ASC: byName("asc"),
  NAME_DESC: byName("desc"),
};

const CONTROL = /\p{Cc}/u;

/**
 * True when `key` has the exact form this server writes into cursors, so a forged one is
 * refused here rather than failing inside the database.
 */
function isIssuedKey(ordering: Ordering, key: string): boolean {
  if (ordering.sqlKeyType === "timestamptz") {
    return isIssuedTime(key);
  }
  // A lower-cased name: no control characters (names cannot hold them), at most 255 characters.
  return !CONTROL.test(key) && key.isWellFormed() && [...key].length <= 255;
}

/** A position in one ordering: the sort key and id of the last row seen. */
export interface DatasetCursor {
  key: string;
  id: string;
}

export function encodeDatasetCursor(order: DatasetOrder, row: DatasetListRow): string {
  return encodeCursor([order, ORDERINGS[order].keyOf(row), row.id]);
}

/**
 * Decodes `after` for `order`. A cursor of another ordering, or anything this server did
 * not issue, is BAD_USER_INPUT on `after`.
 */
export function decodeDatasetCursor(order: DatasetOrder, after: string): DatasetCursor {
  const [cursorOrder, key, id, ...rest] = decodeCursor(after);
  if (rest.length > 0 || typeof key !== "string" || typeof id !== "string" || !((cursorOrder as string) in ORDERINGS)) {
    throw badUserInput("after", "after is not a cursor issued by this server");
  }
  if (cursorOrder !== order) {
    throw badUserInput("after", `after is a cursor for orderBy ${String(cursorOrder)}, not ${order}`);
  }
  if (!isIssuedKey(ORDERINGS[order], key)) throw badUserInput("after", "after is not a cursor issued by this server");
  try {
    return { key, id: checkId("after", id) };
  } catch {
    throw badUserInput("after", "after is not a cursor issued by this server");
  }
}
