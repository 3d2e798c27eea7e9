import { createHash } from "node:crypto";

/**
 * Statements the PostgreSQL adapter may run as named prepared statements (`{ name, text,
 * values }` in pg): parsed once per connection, and, from their sixth execution, planned once
 * (PostgreSQL switches to a generic plan when it is not dearer than the custom ones). For the
 * hot statements here that planning is most of PostgreSQL's work (docs/speed.md).
 *
 * Only texts whose one generic plan is as good as a plan made for each execution's values
 * are marked: no `$n is null or …` test, which a custom plan folds away with the value and a
 * generic plan cannot (a generic plan of the datasets page with an optional owner would walk
 * every owner's rows newest first). The datasets lists are written per case for that reason.
 *
 * The name is a hash of the text, so it is the same on every instance and every connection:
 * the same name always means the same statement, whichever server connection a pooler picks.
 */
const names = new Map<string, string>();

/** Marks `text` as fit to run prepared, and returns it unchanged. */
export function preparable(text: string): string {
  if (!names.has(text)) names.set(text, `q_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`);
  return text;
}

/** The statement name of a text marked with `preparable`; undefined for any other text. */
export function preparedName(text: string): string | undefined {
  return names.get(text);
}
