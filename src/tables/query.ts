import { createHash } from "node:crypto";
import { badUserInput } from "../common/errors.js";
import type { RowFilter, RowOrder } from "../generated/graphql.js";
import { coerceValue, type QueryColumn } from "./values.js";

/**
 * A row query, from the typed arguments of `FileTable.rows` to SQL: every value a parameter
 * ($1, $2, … of a DuckDB prepared statement), every identifier one of the copy's own column
 * names (r, c0, c1, …) picked from the known list, never text from the client. Everything is
 * checked before anything runs; a refusal is BAD_USER_INPUT naming the argument's path.
 */

/** How deep `and`/`or`/`not` may nest. */
export const MAX_FILTER_DEPTH = 8;
/** Comparisons and IN candidates in one filter, in all. */
export const MAX_FILTER_TERMS = 100;
/** Columns one `orderBy` may name. */
export const MAX_ORDER_COLUMNS = 10;

export interface CompiledQuery {
  /** The WHERE condition ("true" without a filter), with `params`. */
  where: string;
  /** The ORDER BY list, the row's position last. */
  orderBy: string;
  /** The selected columns of the copy, in the order asked. */
  select: string[];
  /** The names of the selected columns, in the same order. */
  names: string[];
  params: string[];
  /** Names this query among all of the same table: a cursor carries it. */
  hash: string;
}

const COMPARISONS = { EQ: "=", NE: "<>", LT: "<", LTE: "<=", GT: ">", GTE: ">=" } as const;

class Compiler {
  readonly params: string[] = [];
  private terms = 0;
  private readonly byName: Map<string, QueryColumn>;

  constructor(columns: readonly QueryColumn[]) {
    // A name the file repeats: the first column of that name.
    this.byName = new Map([...columns].reverse().map((column) => [column.name, column]));
  }

  column(name: unknown, field: string): QueryColumn {
    const column = typeof name === "string" ? this.byName.get(name) : undefined;
    if (!column) throw badUserInput(field, `${field}: the table has no column ${JSON.stringify(name)}`);
    return column;
  }

  private param(value: string): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  private term(field: string): void {
    this.terms += 1;
    if (this.terms > MAX_FILTER_TERMS) throw badUserInput(field, `where: at most ${MAX_FILTER_TERMS} comparisons and IN values in all`);
  }

  filter(node: RowFilter, field: string, depth: number): string {
    if (depth > MAX_FILTER_DEPTH) throw badUserInput(field, `where: and, or and not may nest at most ${MAX_FILTER_DEPTH} deep`);
    const given = (["and", "or", "not", "column"] as const).filter((key) => node[key] !== undefined && node[key] !== null);
    const comparison = node.column !== undefined && node.column !== null;
    if (given.length !== 1) {
      throw badUserInput(field, `${field} must have exactly one of and, or, not, or a comparison (column and op)`);
    }
    if (!comparison && (node.op != null || node.value !== undefined || node.values != null)) {
      throw badUserInput(field, `${field}: op, value and values go with column, not with and, or or not`);
    }
    if (node.and != null || node.or != null) {
      const [key, list] = node.and != null ? ["and", node.and] : ["or", node.or!];
      if (list.length === 0) throw badUserInput(`${field}.${key}`, `${field}.${key} must hold at least one filter`);
      const parts = list.map((child, index) => this.filter(child, `${field}.${key}[${index}]`, depth + 1));
      return `(${parts.join(key === "and" ? " and " : " or ")})`;
    }
    if (node.not != null) return `(not ${this.filter(node.not, `${field}.not`, depth + 1)})`;
    return this.comparison(node, field);
  }

  private comparison(node: RowFilter, field: string): string {
    const column = this.column(node.column, `${field}.column`);
    const op = node.op;
    if (op == null) throw badUserInput(`${field}.op`, `${field}.op is required with column`);
    this.term(field);
    const cast = (value: unknown, at: string) => `cast(${this.param(coerceValue(column, value, at))} as ${column.castTo})`;
    const noValue = () => {
      if (node.value !== undefined || node.values != null) throw badUserInput(`${field}.value`, `${field}: ${op} takes no value`);
    };
    const oneValue = () => {
      if (node.values != null) throw badUserInput(`${field}.values`, `${field}: ${op} takes value, not values`);
      if (node.value === undefined || node.value === null)
        throw badUserInput(`${field}.value`, `${field}.value is required with ${op} (IS_NULL finds missing values)`);
    };
    switch (op) {
      case "IS_NULL":
      case "IS_NOT_NULL":
        noValue();
        return `(${column.ref} is ${op === "IS_NULL" ? "" : "not "}null)`;
      case "CONTAINS":
      case "STARTS_WITH":
        if (column.kind !== "text") throw badUserInput(`${field}.op`, `${field}.op: ${op} compares text; column "${column.name}" is not text`);
        oneValue();
        return `${op === "CONTAINS" ? "contains" : "starts_with"}(${column.ref}, ${cast(node.value, `${field}.value`)})`;
      case "IN": {
        this.comparable(column, op, field);
        if (node.value !== undefined) throw badUserInput(`${field}.value`, `${field}: IN takes values, not value`);
        const values = node.values;
        if (!values || values.length === 0) throw badUserInput(`${field}.values`, `${field}.values must hold at least one value for IN`);
        const list = values.map((value, index) => {
          if (index > 0) this.term(field);
          if (value === null)
            throw badUserInput(`${field}.values[${index}]`, `${field}.values[${index}]: a missing value never matches (use IS_NULL)`);
          return cast(value, `${field}.values[${index}]`);
        });
        return `(${column.ref} in (${list.join(", ")}))`;
      }
      default: {
        this.comparable(column, op, field);
        if (op !== "EQ" && op !== "NE" && column.kind === "boolean") {
          throw badUserInput(`${field}.op`, `${field}.op: column "${column.name}" holds true or false: EQ, NE, IN or IS_NULL`);
        }
        oneValue();
        return `(${column.ref} ${COMPARISONS[op]} ${cast(node.value, `${field}.value`)})`;
      }
    }
  }

  private comparable(column: QueryColumn, op: string, field: string): void {
    if (column.kind === "other") {
      throw badUserInput(`${field}.op`, `${field}.op: column "${column.name}" cannot be compared (${op}); only IS_NULL and IS_NOT_NULL`);
    }
  }
}

/** The query of `rows(where, orderBy, columns)` on a table of `columns`, checked and compiled; `tableKey` binds its hash to the one copy. */
export function compileQuery(
  columns: readonly QueryColumn[],
  args: { where?: RowFilter | null; orderBy?: readonly RowOrder[] | null; columns?: readonly string[] | null },
  tableKey: string,
): CompiledQuery {
  const compiler = new Compiler(columns);
  const where = args.where ? compiler.filter(args.where, "where", 1) : "true";

  const orderBy = args.orderBy ?? [];
  if (orderBy.length > MAX_ORDER_COLUMNS) throw badUserInput("orderBy", `orderBy may name at most ${MAX_ORDER_COLUMNS} columns`);
  const seen = new Set<string>();
  const order = orderBy.map((entry, index) => {
    const column = compiler.column(entry.column, `orderBy[${index}].column`);
    if (seen.has(column.ref)) throw badUserInput(`orderBy[${index}].column`, `orderBy names column "${column.name}" twice`);
    seen.add(column.ref);
    // Missing values last either way; then the row's position breaks ties: pages are stable.
    return `${column.ref} ${entry.direction === "DESC" ? "desc" : "asc"} nulls last`;
  });
  order.push("r asc");

  let selected = [...columns];
  if (args.columns != null) {
    if (args.columns.length === 0) throw badUserInput("columns", "columns must name at least one column (leave it out for all)");
    const picked = new Set<string>();
    selected = args.columns.map((name, index) => {
      const column = compiler.column(name, `columns[${index}]`);
      if (picked.has(column.ref)) throw badUserInput(`columns[${index}]`, `columns names "${column.name}" twice`);
      picked.add(column.ref);
      return column;
    });
  }

  const hash = createHash("sha256")
    .update(JSON.stringify({ tableKey, where, params: compiler.params, order, select: selected.map((column) => column.ref) }))
    .digest("base64url")
    .slice(0, 22);
  return {
    where,
    orderBy: order.join(", "),
    select: selected.map((column) => column.ref),
    names: selected.map((column) => column.name),
    params: compiler.params,
    hash,
  };
}
