import { badUserInput } from "./errors.js";

/**
 * Input checks shared by every domain (docs/api.md "Input rules"). Each throws BAD_USER_INPUT
 * naming the field, and returns the value as it is to be stored.
 */

// Unicode control characters (Cc): C0, DEL and C1.
export const CONTROL = /\p{Cc}/u;
const CONTROL_EXCEPT_TAB_NEWLINE = /(?![\t\n])\p{Cc}/u;
// Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they
// reorder how the text around them reads ("\u202Egnp.exe" reads as "exe.png").
export const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;

/** Length in characters (code points), as PostgreSQL's char_length counts them. */
export const characterCount = (value: string) => [...value].length;

export interface TextRule {
  min?: number;
  max: number;
  /** Tab and newline are allowed (multi-line text such as a description). */
  multiline?: boolean;
  /**
   * Shown to people as one line (a name, a path): bidirectional controls are refused too,
   * so what one reads is what is stored. (Not for secrets such as passwords, never shown.)
   */
  shown?: boolean;
}

/** A string of `min` to `max` characters with no control characters (nor bidirectional ones, if `shown`). */
export function checkText(field: string, value: string, rule: TextRule): string {
  // A lone UTF-16 surrogate cannot be stored as UTF-8: the driver would silently turn it into U+FFFD.
  if (!value.isWellFormed()) throw badUserInput(field, `${field} is not well-formed Unicode text`);
  const forbidden = rule.multiline ? CONTROL_EXCEPT_TAB_NEWLINE : CONTROL;
  if (forbidden.test(value)) {
    const allowed = rule.multiline ? " (tab and newline are allowed)" : "";
    throw badUserInput(field, `${field} must not contain control characters${allowed}`);
  }
  if (rule.shown && BIDI_CONTROL.test(value)) {
    throw badUserInput(field, `${field} must not contain bidirectional control characters (U+202A to U+202E, U+2066 to U+2069)`);
  }
  const length = characterCount(value);
  const min = rule.min ?? 0;
  if (length < min || length > rule.max) {
    throw badUserInput(
      field,
      min > 0
        ? `${field} must be ${min} to ${rule.max} characters long (got ${length})`
        : `${field} must be at most ${rule.max} characters long (got ${length})`,
    );
  }
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An id this server could have issued (a UUID); anything else cannot name a row. */
export function checkId(field: string, value: string): string {
  if (!UUID.test(value))
    throw badUserInput(field, `${field} is not a valid id: ids are UUIDs, such as 123e4567-e89b-12d3-a456-426614174000, as the API returns them`);
  return value.toLowerCase();
}
