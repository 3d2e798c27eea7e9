import { auditedStatement } from "../audit/events.js";
import { type ColumnMap, columnMap, insertParts, propertyList, selectList, setList, updateParts, type WritableRow } from "../db/columns.js";
import type { DatasetOrder } from "../generated/graphql.js";
import { preparable } from "../db/prepared.js";
import { accessOf, allows, ownedOrSharedWith, scopeAt, sharedWith } from "../policy/access-sql.js";
import type { DatasetListScope } from "../policy/dataset-access.js";
import type { DatasetListRow } from "./rows.js";
import type { UserRow } from "../users/rows.js";
import { USER_ROW_COLUMNS } from "../users/sql.js";
import { ORDERINGS, type Ordering } from "./ordering.js";
import { DATASET_COLUMNS as DECLARED } from "./columns.js";

/**
 * All SQL about datasets. Columns are aliased to `DatasetRow` property names.
 *
 * A single dataset's statements take the viewer's scope (`scopeParams`) and filter with
 * `allows` (policy/access-sql.ts); on a primary key any plan is the same. The lists are
 * written out per case instead (their scope: one owner, every owner, shared with a user, or
 * owned by or shared with them; a search or none; a cursor or the first page), so that each
 * text has one right plan: the server runs them as prepared statements (src/db/prepared.ts),
 * whose generic plan cannot fold an optional test such as `$1 is null or user_id = $1` away.
 * Not a search: how many rows a pattern matches, and whether its trigrams narrow anything,
 * depends on the pattern, so each search is planned for its own.
 */

/** The `DatasetRow` columns, from their declaration (its `owner` is another table's row, its `access` the viewer's). */
const DATASET_ROW_COLUMNS = columnMap(DECLARED);

const DATASET_COLUMNS = selectList(DATASET_ROW_COLUMNS);

/** A list's columns, qualified: the owners' table, joined, has an `id` and times too. */
export const LIST_COLUMNS = `${selectList(DATASET_ROW_COLUMNS, { table: "datasets" })}, lower(datasets.name) as "sortName"`;

/**
 * The larger of a dataset's columns, in two groups a list reads only when the client selected
 * one of their fields (its other columns are small, and it always reads them: the id and the
 * owner's, which the fields below and the policy use, the name, the visibility, the times and
 * the sort name, which cursors use), and, for the owners, a third. Groups rather than each
 * column alone, so that the list statements, each prepared on every connection, stay few: at
 * most eight times as many, not hundreds of times.
 */
export interface ListColumnGroups {
  /** `description` and `filePath`. */
  summary: boolean;
  /** `license`, `tags` and `readme`: the card, and the largest. */
  card: boolean;
  /**
   * When the owners are read: their `role`, `active` and times besides the `id`, `username`
   * and `email` always read (a `User` without them is what a page of owners' names needs).
   */
  ownerAccount?: boolean;
}

type ListedProperty = keyof typeof DATASET_ROW_COLUMNS;

/** Each column's group: a column added to the declaration is a compile error here until it has one. */
const COLUMN_GROUPS = {
  id: "always",
  userId: "always",
  name: "always",
  visibility: "always",
  createdAt: "always",
  updatedAt: "always",
  description: "summary",
  filePath: "summary",
  license: "card",
  tags: "card",
  readme: "card",
} as const satisfies Record<ListedProperty, "always" | keyof ListColumnGroups>;

const columnsOf = (group: (typeof COLUMN_GROUPS)[ListedProperty]) =>
  (Object.keys(COLUMN_GROUPS) as ListedProperty[]).filter((property) => COLUMN_GROUPS[property] === group);
const ALWAYS_LISTED = columnsOf("always");
const SUMMARY_COLUMNS = columnsOf("summary");
const CARD_COLUMNS = columnsOf("card");

/** Every group: what a caller that does not say reads. */
export const ALL_COLUMNS: ListColumnGroups = { summary: true, card: true, ownerAccount: true };

/** The owner's columns a list always reads when it reads owners, and those of `ownerAccount`. */
const OWNER_ALWAYS: ReadonlyArray<keyof UserRow> = ["id", "username", "email"];
const OWNER_ACCOUNT = (Object.keys(USER_ROW_COLUMNS) as Array<keyof UserRow>).filter((property) => !OWNER_ALWAYS.includes(property));

/** What a list statement reads besides its page, each only when the client selected it. */
export interface ListExtras {
  /** The filter's count, on every row as "totalCount". */
  totalCount: boolean;
  /** Each dataset's owner, as `UserRow` columns named `owner.id`, `owner.username`, … */
  owners: boolean;
  /** The larger columns; absent: all of them. */
  columns?: ListColumnGroups;
}

/** A list's scope as its statement is written: `DatasetListScope`, with every owner (`all`) apart from one. */
export type ListScope = "owner" | "all" | "shared" | "ownedOrShared";
const LIST_SCOPES: readonly ListScope[] = ["owner", "all", "shared", "ownedOrShared"];

export const listScope = (scope: DatasetListScope): ListScope => (scope.kind === "owner" && scope.ownerId === null ? "all" : scope.kind);

/** Which list statement: the extras, the scope, and whether a search and a cursor apply. */
export interface ListShape extends ListExtras {
  scope: ListScope;
  /** A case-insensitive substring of name or description. */
  search: boolean;
  /** Only the datasets of a personal access token's list (absent: false). */
  limited?: boolean;
  /** A page after a cursor, or the first. */
  after: boolean;
}

/** The values a list statement may take; each statement takes those its shape uses. */
export interface ListValues {
  /** The owner, or the user the datasets are shared with (unused for `all`). */
  subject: string | null;
  /** The ILIKE pattern (`containsPattern`). */
  pattern: string | null;
  /** The datasets a limited list keeps (a token's list). */
  only?: readonly string[] | null;
  afterKey: string | null;
  afterId: string | null;
  limit: number;
}

/** A statement and its parameters, in the order its text numbers them. */
export interface ListStatement {
  text: string;
  params(values: ListValues): unknown[];
}

/**
 * A list statement, run with `queryArrays`: the row of each array of values, built in one
 * step by a mapper made for the statement's select list (its owner on it, when read), and
 * where the count is. A row holds only the columns its statement read: the fields of the
 * others were not selected, so nothing reads them.
 */
export interface ListPageStatement extends ListStatement {
  row(values: readonly unknown[]): DatasetListRow;
  /** The index of the count in every row (each holds the same); null when the statement does not read it. */
  countAt: number | null;
}

/** Numbers each value the first time a text uses it: `$1`, `$2`, … */
function parameters() {
  const used: Array<keyof ListValues> = [];
  return {
    ref(name: keyof ListValues): string {
      const at = used.indexOf(name);
      if (at >= 0) return `$${at + 1}`;
      used.push(name);
      return `$${used.length}`;
    },
    params: (values: ListValues) => used.map((name) => values[name]),
  };
}

/** The filter of a scope and search, each test only when it applies. */
function filterOf(shape: Pick<ListShape, "scope" | "search" | "limited">, ref: (name: keyof ListValues) => string): string[] {
  const scope = {
    owner: () => [`datasets.user_id = ${ref("subject")}::uuid`],
    all: () => [],
    shared: () => [sharedWith("datasets", ref("subject"))],
    ownedOrShared: () => [ownedOrSharedWith("datasets", ref("subject"))],
  }[shape.scope]();
  const limited = shape.limited ? [`datasets.id = any(${ref("only")}::uuid[])`] : [];
  return [
    ...scope,
    ...limited,
    ...(shape.search ? [`(datasets.name ilike ${ref("pattern")}::text or datasets.description ilike ${ref("pattern")}::text)`] : []),
  ];
}

const whereOf = (tests: string[]) => (tests.length > 0 ? tests.join("\n      and ") : "true");

export const OWNER_PREFIX = "owner.";

/**
 * One page in `ordering`, with its extras in the same round trip. The count is a scalar
 * subquery, which PostgreSQL runs once per statement (an InitPlan): cheaper to plan than a
 * join of the page with a counted row (measured: 0.16 against 0.23 ms of PostgreSQL CPU per
 * statement), at the price that an empty page brings no count (see `separateCount`). The
 * owners join the page on their primary key: with the LIMIT, PostgreSQL walks the datasets
 * index in order and looks up one owner per row (a nested loop), so the page keeps its plan
 * and its order.
 */
function listStatement({ sqlKey, sqlKeyType, direction }: Ordering, shape: ListShape, limit: number | undefined): ListPageStatement {
  const { ref, params } = parameters();
  const comparison = direction === "asc" ? ">" : "<";
  const filter = filterOf(shape, ref);
  const groups = shape.columns ?? ALL_COLUMNS;
  const properties: ListedProperty[] = [...ALWAYS_LISTED, ...(groups.summary ? SUMMARY_COLUMNS : []), ...(groups.card ? CARD_COLUMNS : [])];
  const columns = selectList(pick(DATASET_ROW_COLUMNS, properties), { table: "datasets" });
  const count = shape.totalCount ? `,\n      (select count(*)::int from datasets where ${whereOf(filter)}) as "totalCount"` : "";
  const ownerProperties = shape.owners ? [...OWNER_ALWAYS, ...((groups.ownerAccount ?? true) ? OWNER_ACCOUNT : [])] : null;
  const owner = ownerProperties ? `,\n      ${selectList(pick(USER_ROW_COLUMNS, ownerProperties), { table: "u", prefix: OWNER_PREFIX })}` : "";
  const cursor = shape.after ? [`(${sqlKey}, datasets.id) ${comparison} (${ref("afterKey")}::${sqlKeyType}, ${ref("afterId")}::uuid)`] : [];
  const text = `
    select ${columns}, lower(datasets.name) as "sortName"${owner}${count}
    from datasets${shape.owners ? " join users u on u.id = datasets.user_id" : ""}
    where ${whereOf([...filter, ...cursor])}
    order by ${sqlKey} ${direction}, datasets.id ${direction}
    limit ${limit ?? `${ref("limit")}::int`}`;
  const listed = [...properties, "sortName"];
  const countAt = shape.totalCount ? listed.length + (ownerProperties?.length ?? 0) : null;
  return { text: shape.search ? text : preparable(text), params, row: rowMapper(listed, ownerProperties), countAt };
}

/** The entries of `columns` for `properties`, in their order: a select list of some of a table's columns. */
const pick = <Property extends string>(columns: ColumnMap<Property>, properties: readonly Property[]): ColumnMap<Property> =>
  Object.fromEntries(properties.map((property) => [property, columns[property]])) as ColumnMap<Property>;

/**
 * The row of a list statement's array of values: its dataset's properties in select-list
 * order, then its owner's. Every row of one statement is built by the same steps, so they
 * share one object shape, and the owner needs no second pass over a row read with prefixed
 * names.
 */
function rowMapper(properties: readonly string[], ownerProperties: ReadonlyArray<keyof UserRow> | null) {
  const width = properties.length;
  return (values: readonly unknown[]): DatasetListRow => {
    const row: Record<string, unknown> = {};
    for (let at = 0; at < width; at++) row[properties[at]!] = values[at];
    if (ownerProperties) {
      const owner: Record<string, unknown> = {};
      for (let at = 0; at < ownerProperties.length; at++) owner[ownerProperties[at]!] = values[width + at];
      row.owner = owner;
    }
    return row as unknown as DatasetListRow;
  };
}

const shapeKey = (order: DatasetOrder, shape: ListShape, limit?: number) => {
  const columns = shape.columns ?? ALL_COLUMNS;
  return `${order} ${shape.totalCount} ${shape.owners} ${columns.summary} ${columns.card} ${shape.owners && (columns.ownerAccount ?? true)} ${shape.scope} ${shape.search} ${shape.limited ?? false} ${shape.after} ${limit ?? "$"}`;
};

/**
 * The default page's LIMIT (`first` 20, and one more row) is written into the text. A
 * generic plan of `limit $n` is costed for a tenth of the rows, so PostgreSQL keeps planning
 * the statement anew each time (measured: 0.2 ms of its 0.31 ms on the owners page); with
 * the number, the generic plan is the custom one and is reused.
 */
export const DEFAULT_LIST_LIMIT = 21;

/**
 * The list statements (each order in each shape and column groups, with the default LIMIT and
 * with any), written out from fixed fragments when first used: a few thousand in all, of which
 * a server uses the few its clients ask for.
 */
const DATASET_LISTS = new Map<string, ListPageStatement>();

/** The list statement of `order` in `shape` that reads `limit` rows (its params then take that limit). */
export function datasetList(order: DatasetOrder, shape: ListShape, limit?: number): ListPageStatement {
  const fixed = limit === DEFAULT_LIST_LIMIT ? limit : undefined;
  const key = shapeKey(order, shape, fixed);
  let statement = DATASET_LISTS.get(key);
  if (!statement) {
    statement = listStatement(ORDERINGS[order], shape, fixed);
    DATASET_LISTS.set(key, statement);
  }
  return statement;
}

/** The count of a filter alone (when a page came back empty, or `totalCount` was not foreseen). */
const DATASET_COUNTS = new Map(
  LIST_SCOPES.flatMap((scope) =>
    [false, true].flatMap((search) =>
      [false, true].map((limited) => {
        const { ref, params } = parameters();
        const text = `select count(*)::int as "count" from datasets where ${whereOf(filterOf({ scope, search, limited }, ref))}`;
        return [`${scope} ${search} ${limited}`, { text: search ? text : preparable(text), params }] as const;
      }),
    ),
  ),
);

export const datasetCount = (shape: Pick<ListShape, "scope" | "search" | "limited">): ListStatement =>
  DATASET_COUNTS.get(`${shape.scope} ${shape.search} ${shape.limited ?? false}`)!;

/** $1 id, then the scope ($2 viewer, $3 admin, $4 accesses allowed, $5 dataset limit): the dataset with the viewer's access to it. */
export const DATASET_BY_ID = preparable(`
  select ${DATASET_COLUMNS}, ${accessOf("datasets", scopeAt(2))} as "access" from datasets
  where id = $1 and ${allows("datasets", scopeAt(2))}`);

/** The columns of a `DatasetRow`, read back from a CTE that returned `DATASET_COLUMNS`. */
const ROW_FROM_CTE = propertyList(DATASET_ROW_COLUMNS);

/** The insert's columns and values, from the declaration: $1, $2, … each column written on insert. */
const INSERT = insertParts(DECLARED);

/**
 * Each change writes its audit event in the same statement (a data-modifying CTE), so the
 * two stand or fall together and cost one round trip. `params` takes the values by name.
 */
export const INSERT_DATASET = {
  ...auditedStatement(
    "dataset.created",
    { from: "inserted", actor: '"userId"', subject: "id" },
    (audited) => `
  with inserted as (
    insert into datasets (${INSERT.columns})
    values (${INSERT.values})
    returning ${DATASET_COLUMNS}
  ), ${audited}
  select ${ROW_FROM_CTE} from inserted`,
  ),
  params: INSERT.params,
};
// One of the hot statements (createDataset): fit to run prepared.
preparable(INSERT_DATASET.text);

/** The update's assignments, from the declaration: after the id and the scope, a flag and a value for each writable column. */
const UPDATE = updateParts(DECLARED, 6);

/** What an update takes, by name. */
export interface DatasetUpdateValues {
  id: string;
  /** The viewer's scope, as `scopeParams` gives it: viewer, admin, accesses allowed, dataset limit. */
  scope: readonly unknown[];
  /** The fields to change; one left out (undefined) keeps its value, a null clears it. */
  changes: Partial<WritableRow<typeof DECLARED>>;
}

/**
 * $1 id, then the scope ($2 viewer, $3 admin, $4 accesses allowed, $5 dataset limit); each writable column
 * changes only when its flag is true (`updateParts`), so a field left out of the input keeps
 * its value and a null clears it. The last parameter: the audit event's details (the fields
 * changed); its actor is the viewer (the owner or an editor).
 */
export const UPDATE_DATASET = {
  ...auditedStatement(
    "dataset.updated",
    { from: "updated", actor: "$2::uuid", subject: "id", details: `$${UPDATE.next}::jsonb` },
    (audited) => `
  with updated as (
    update datasets set
${setList([...UPDATE.assignments, ["updated_at", "date_trunc('milliseconds', now())"]])}
    where id = $1 and ${allows("datasets", scopeAt(2))}
    returning ${DATASET_COLUMNS}
  ), ${audited}
  select ${ROW_FROM_CTE} from updated`,
  ),
  params: ({ id, scope, changes }: DatasetUpdateValues): unknown[] => [
    id,
    ...scope,
    ...UPDATE.params(changes),
    JSON.stringify({ fields: Object.keys(changes).sort() }),
  ],
};

/**
 * $1 id, then the scope ($2 viewer, $3 admin, $4 accesses allowed, $5 dataset limit): the
 * dataset's visibility before an update changes it, its row locked until the transaction ends
 * (so the audit event's "before" is what the update replaced).
 */
export const LOCK_VISIBILITY = `
  select visibility from datasets where id = $1 and ${allows("datasets", scopeAt(2))} for no key update`;

/** $1 id, then the scope ($2 viewer, $3 admin, $4 accesses allowed, $5 dataset limit). */
export const DELETE_DATASET = auditedStatement(
  "dataset.deleted",
  { from: "deleted", actor: "$2::uuid", subject: "id", details: "jsonb_build_object('name', name)" },
  (audited) => `
  with deleted as (
    delete from datasets where id = $1 and ${allows("datasets", scopeAt(2))} returning id, user_id, name
  ), ${audited}
  -- The content its versions and uploads held, as the statement's snapshot still sees it:
  -- the garbage collector's candidates once the cascade has removed those rows.
  select id, array(
    select sha256 from dataset_content where dataset_id = $1
    union
    select sha256 from uploads where dataset_id = $1 and sha256 is not null
  ) as content,
  -- Its unfinished uploads, whose staged bytes go with it.
  array(select id::text from uploads where dataset_id = $1 and state = 'receiving') as uploads
  from deleted`,
);

/**
 * $1 ids, then the scope ($2 to $5, `scopeParams`): those of the datasets the scope allows,
 * oldest first (a token's dataset list, checked and shown).
 */
export const DATASETS_BY_IDS = `
  select ${DATASET_COLUMNS}, ${accessOf("datasets", scopeAt(2))} as "access" from datasets
  where id = any($1::uuid[]) and ${allows("datasets", scopeAt(2))}
  order by created_at, id`;
