import type { ColumnChange } from "../generated/graphql.js";

/** A column as a stored profile lists it: what a comparison looks at. */
interface NamedColumn {
  name: string;
  type: string;
}

/**
 * How a table's columns changed from `before` to `after` (two stored profiles' column
 * lists), matched by name: the columns of `after` that are new or of another type, in its
 * order, then those of `before` that are gone, in its order. Empty when nothing changed.
 */
export function columnChanges(before: readonly NamedColumn[], after: readonly NamedColumn[]): ColumnChange[] {
  const old = new Map(before.map((column) => [column.name, column.type]));
  const now = new Set(after.map((column) => column.name));
  const changes: ColumnChange[] = [];
  for (const column of after) {
    const type = old.get(column.name);
    if (type === undefined) changes.push({ name: column.name, kind: "ADDED", typeBefore: null, typeAfter: column.type });
    else if (type !== column.type) changes.push({ name: column.name, kind: "RETYPED", typeBefore: type, typeAfter: column.type });
  }
  for (const column of before) {
    if (!now.has(column.name)) changes.push({ name: column.name, kind: "REMOVED", typeBefore: column.type, typeAfter: null });
  }
  return changes;
}
