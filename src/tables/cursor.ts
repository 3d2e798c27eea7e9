import { badUserInput } from "../common/errors.js";

/**
 * A row page's cursor: how many rows of the result come before the next page, and the hash
 * of the query it belongs to (the table's copy, the filter with its values, the order and
 * the columns: query.ts). The copy never changes, so an offset names the same rows however
 * long the client takes; a cursor of another table or another query is refused.
 */

export function encodeCursor(hash: string, offset: number): string {
  return Buffer.from(JSON.stringify({ q: hash, o: offset })).toString("base64url");
}

/** The offset `after` names for the query `hash`, or BAD_USER_INPUT on `after`. */
export function decodeCursor(after: string | null | undefined, hash: string): number {
  if (after === null || after === undefined) return 0;
  let parsed: unknown;
  try {
    parsed = after.length <= 200 ? JSON.parse(Buffer.from(after, "base64url").toString("utf8")) : undefined;
  } catch {
    parsed = undefined;
  }
  const { q, o } = (parsed ?? {}) as { q?: unknown; o?: unknown };
  if (typeof q !== "string" || typeof o !== "number" || !Number.isSafeInteger(o) || o < 0) {
    throw badUserInput("after", "after is not a cursor of this API");
  }
  if (q !== hash) throw badUserInput("after", "after is a cursor of another table or another query (where, orderBy and columns must stay the same)");
  return o;
}
