/**
 * A table's column list, written once per row type: each property of the row and the
 * column it is read from. Statements interpolate the select lists made from it; these are
 * constants of the code, never input, so the SQL stays a fixed text with `$n` parameters.
 */
export type ColumnMap<Property extends string> = Readonly<Record<Property, string>>;

export interface SelectListOptions {
  /** Qualifies each column (`datasets.id`), where a join makes names ambiguous. */
  table?: string;
  /** Prepended to each alias (`owner.id`), for a row that holds two tables' columns. */
  prefix?: string;
}

/**
 * `column as "property"` for each entry (no alias where the two are the same), for a
 * select or RETURNING list whose rows read back as the row type.
 */
export function selectList<Property extends string>(columns: ColumnMap<Property>, { table, prefix = "" }: SelectListOptions = {}): string {
  return Object.entries<string>(columns)
    .map(([property, column]) => {
      const source = table ? `${table}.${column}` : column;
      const alias = `${prefix}${property}`;
      return alias === column ? source : `${source} as "${alias}"`;
    })
    .join(", ");
}

/** The row's property names, quoted: the select list that reads a row back from a CTE that returned `selectList`. */
export function propertyList<Property extends string>(columns: ColumnMap<Property>): string {
  return Object.keys(columns)
    .map((property) => `"${property}"`)
    .join(", ");
}
