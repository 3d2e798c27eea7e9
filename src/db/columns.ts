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

/**
 * How the statements built from a table's declaration write a column: never (the database
 * sets it: an id, a time), once on insert (the owner), or on insert and update (a field
 * the client edits).
 */
export type Written = "never" | "onInsert" | "always";

/**
 * One column of a table's declaration: its name in the table, how it is written and, for a
 * column an update writes, the SQL type its parameter is cast to. `Value` is the row
 * property's TypeScript type (only a type: no value carries it).
 */
export interface Column<Value, W extends Written = Written> {
  readonly column: string;
  readonly written: W;
  readonly type?: string;
  readonly value?: Value;
}

/** A column the statements read and never write. */
export const readColumn = <Value>(column: string): Column<Value, "never"> => ({ column, written: "never" });
/** A column set by the insert and never changed after. */
export const insertedColumn = <Value>(column: string): Column<Value, "onInsert"> => ({ column, written: "onInsert" });
/** A column set by the insert and changed by the update, whose parameter is cast to `type`. */
export const writableColumn = <Value>(column: string, type: string): Column<Value, "always"> => ({ column, written: "always", type });

/** A table's declaration: each property of its row type and the column it is read from and written to. */
export type Columns = Readonly<Record<string, Column<unknown>>>;

/** The row type a declaration reads. */
export type RowOf<C extends Columns> = { -readonly [K in keyof C]: C[K] extends Column<infer Value> ? Value : never };

type FieldsWritten<C extends Columns, W extends Written> = { [K in keyof C]: C[K] extends Column<unknown, W> ? K : never }[keyof C];

type NullableFields<Row> = { [K in keyof Row]: null extends Row[K] ? K : never }[keyof Row];

/**
 * `Row` with its nullable fields optional: one left out is inserted as null (so a caller
 * written before a nullable column was added still compiles and inserts it empty).
 */
export type NullsOptional<Row> = Omit<Row, NullableFields<Row>> & Partial<Pick<Row, NullableFields<Row>>>;

/** The values an insert takes: each field written on insert (a nullable one may be left out: null). */
export type InsertedRow<C extends Columns> = NullsOptional<Pick<RowOf<C>, FieldsWritten<C, "onInsert" | "always">>>;

/** The fields an update may change. */
export type WritableRow<C extends Columns> = Pick<RowOf<C>, FieldsWritten<C, "always">>;

const fieldsWritten = <C extends Columns>(declaration: C, written: readonly Written[]): Array<keyof C & string> =>
  Object.keys(declaration).filter((field) => written.includes(declaration[field]!.written));

/** The `ColumnMap` of a declaration, for `selectList` and `propertyList`. */
export function columnMap<C extends Columns>(declaration: C): ColumnMap<keyof C & string> {
  return Object.fromEntries(Object.entries(declaration).map(([field, { column }]) => [field, column])) as ColumnMap<keyof C & string>;
}

/** The names of the fields an update may change, in the declaration's order. */
export const writableFields = <C extends Columns>(declaration: C): Array<keyof WritableRow<C> & string> =>
  fieldsWritten(declaration, ["always"]) as Array<keyof WritableRow<C> & string>;

/** Statement text made from a declaration, and the function that turns named values into its parameters. */
export interface StatementParts<Values> {
  /** The parameter after the last one these parts use. */
  next: number;
  params(values: Values): unknown[];
}

/**
 * An insert's column list and VALUES list, every column written on insert in the
 * declaration's order, numbered from `$first`: `(user_id, name)` and `($1, $2)`.
 */
export function insertParts<C extends Columns>(declaration: C, first = 1): StatementParts<InsertedRow<C>> & { columns: string; values: string } {
  const fields = fieldsWritten(declaration, ["onInsert", "always"]);
  return {
    columns: fields.map((field) => declaration[field]!.column).join(", "),
    values: fields.map((_, at) => `$${first + at}`).join(", "),
    next: first + fields.length,
    params: (values) => fields.map((field) => (values as Partial<Record<string, unknown>>)[field] ?? null),
  };
}

/**
 * An update's assignments, one per column it may change, numbered from `$first`: each column
 * takes a flag and a value, and changes only when its flag is true, so a field left out
 * (undefined) keeps its value and a null clears it.
 */
export function updateParts<C extends Columns>(
  declaration: C,
  first: number,
): StatementParts<Partial<WritableRow<C>>> & { assignments: Array<[column: string, value: string]> } {
  const fields = writableFields(declaration);
  return {
    assignments: fields.map((field, at) => {
      const { column, type } = declaration[field]!;
      const flag = first + 2 * at;
      return [column, `case when $${flag}::boolean then $${flag + 1}::${type} else ${column} end`];
    }),
    next: first + 2 * fields.length,
    params: (changes) =>
      fields.flatMap((field) => {
        const value = changes[field as keyof WritableRow<C>];
        return [value !== undefined, value ?? null];
      }),
  };
}

/** `column = value` for each assignment, one a line, the `=` aligned: an UPDATE's SET list. */
export function setList(assignments: ReadonlyArray<readonly [column: string, value: string]>, indent = "      "): string {
  const width = Math.max(...assignments.map(([column]) => column.length));
  return assignments.map(([column, value]) => `${indent}${column.padEnd(width)} = ${value}`).join(",\n");
}
