import { checkText } from "./validation.js";

/**
 * Substring search, shared by every list with a `search` (datasets, users): the input rule
 * and the ILIKE pattern that makes the search literal.
 */

export const SEARCH_MAX = 200;

/** A search of at most 200 characters with no control characters; empty means no filter. */
export function parseSearch(field: string, search: string | null | undefined): string | null {
  if (search == null || search === "") return null;
  return checkText(field, search, { max: SEARCH_MAX });
}

/** `%` `_` and `\` match themselves: escaped for ILIKE's default escape character. */
export function containsPattern(search: string | null): string | null {
  return search === null ? null : `%${search.replace(/[\\%_]/g, "\\$&")}%`;
}
