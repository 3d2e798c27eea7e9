/**
 * `DATABASE_URL=postgres://… npx tsx scripts/explain.ts [--verbose]`
 *
 * Checks that every statement the server sends is served by an index at a realistic size.
 * In a throw-away schema (explain_<random>, dropped at the end, also on failure or Ctrl-C)
 * it applies the project's migrations with the project's own `migrate()`, seeds 1,000 users
 * and 100,000 datasets (the benchmark's seed, bench/harness/seed.ts), ANALYZEs, and then
 * runs `EXPLAIN (ANALYZE, BUFFERS)` on each statement: a read exactly as imported from
 * src/…/sql.ts, a write as its store function (src/…/store.ts) sends it, with the values
 * the store puts in place (`sentBy`); each through a real parameterised execution:
 * `PREPARE q AS <sql>` (no declared types: PostgreSQL infers them as it does for the `pg`
 * driver's unnamed statements) then `EXPLAIN … EXECUTE q(<values>)`. Each case gets a
 * fresh PREPARE, so its plan is a custom plan for its own values, as the server's unnamed
 * statements always are. Writes run inside BEGIN … ROLLBACK.
 *
 * `--verbose` also prints each full text plan. docs/explain.md records the verdicts.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { seedDatasets, seedUsers } from "../bench/harness/seed.js";
import { createAuditLog } from "../src/audit/events.js";
import type { Queryable } from "../src/db/database.js";
import { migrate } from "../src/db/migrate.js";
import { openPostgres } from "../src/db/postgres.js";
import { isoTimestamp } from "../src/db/timestamps.js";
import { ORDERINGS, type Ordering } from "../src/datasets/ordering.js";
import type { DatasetListRow } from "../src/datasets/rows.js";
import * as datasetSql from "../src/datasets/sql.js";
import { deleteDataset, insertDataset, updateDataset } from "../src/datasets/store.js";
import type { DatasetOrder } from "../src/generated/graphql.js";
import { DATASET_ACTIONS, type DatasetAction, type DatasetScope, scopeParams } from "../src/policy/dataset-access.js";
import * as userSql from "../src/users/sql.js";
import { insertUser, setRole } from "../src/users/store.js";

const USERS = 1_000;
const DATASETS_PER_USER = 100;
const DATASETS = USERS * DATASETS_PER_USER;
/** The default page: `first` 20, read with one extra row. */
const LIMIT = 21;
/** A word in about 1 name in 12, and one in none (the worst case: every row is looked at). */
const COMMON_WORD = "weather";
const RARE_WORD = "zebra";
/** A node reading more rows than this from a whole table, or sorting more, is flagged. */
const FLAG_ROWS = 1_000;

const VERBOSE = process.argv.includes("--verbose");

type Param = string | number | boolean | null | readonly string[];

/** A datasets list statement of `order` in the shape its values call for, and its parameters. */
function listCase(
  order: DatasetOrder,
  extras: datasetSql.ListExtras,
  values: { ownerId?: string | null; pattern?: string | null; afterKey?: string | null; afterId?: string | null; scope?: datasetSql.ListScope },
): { sql: string; params: Param[] } {
  const { ownerId = null, pattern = null, afterKey = null, afterId = null } = values;
  const scope = values.scope ?? (ownerId === null ? "all" : "owner");
  const statement = datasetSql.datasetList(order, { ...extras, scope, search: pattern !== null, after: afterKey !== null }, LIMIT);
  return { sql: statement.text, params: statement.params({ subject: ownerId, pattern, afterKey, afterId, limit: LIMIT }) as Param[] };
}

/** The count statement for a filter, and its parameters. */
function countCase(ownerId: string | null, pattern: string | null): { sql: string; params: Param[] } {
  const statement = datasetSql.datasetCount({ scope: ownerId === null ? "all" : "owner", search: pattern !== null });
  return { sql: statement.text, params: statement.params({ subject: ownerId, pattern, afterKey: null, afterId: null, limit: 0 }) as Param[] };
}

const PAGE_ONLY = { totalCount: false, owners: false };

interface Case {
  label: string;
  sql: string;
  params: readonly Param[];
  /** Run inside BEGIN … ROLLBACK. */
  write?: boolean;
  /** Executions before the measured ones (reads only; default 1, a warm-up). */
  warmUps?: number;
}

/** One node of `EXPLAIN (FORMAT JSON)`; only the fields this script reads. */
interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Scan Direction"?: string;
  "Index Cond"?: string;
  "Recheck Cond"?: string;
  Filter?: string;
  "Sort Key"?: string[];
  "Sort Method"?: string;
  "Actual Rows": number;
  "Actual Loops": number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  "Heap Fetches"?: number;
  "Shared Hit Blocks": number;
  "Shared Read Blocks": number;
  Plans?: PlanNode[];
}

interface Explained {
  label: string;
  plan: PlanNode;
  planningMs: number;
  executionMs: number;
  indexes: string[];
  flags: string[];
}

// ---------------------------------------------------------------------------------------
// Set-up and tear-down

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  process.stderr.write("explain: set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/test\n");
  process.exit(1);
}
const connectionString: string = databaseUrl;
const schema = `explain_${randomBytes(6).toString("hex")}`;

/**
 * One connection for everything, its search_path on the throw-away schema, reading
 * timestamps as the server does (ISO text, src/db/timestamps.ts): a cursor's key is then
 * the server's own, not a Date.
 */
const client = new pg.Client({
  connectionString,
  options: `-c search_path=${schema}`,
  types: {
    getTypeParser: ((oid: number, format?: "text" | "binary") =>
      oid === pg.types.builtins.TIMESTAMPTZ && format !== "binary"
        ? isoTimestamp
        : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
  },
});
let schemaCreated = false;
let cleanedUp: Promise<void> | null = null;

/**
 * Drops the schema on a fresh connection. `interrupt`: first end the main connection's
 * backend, whose statement in progress would otherwise hold its locks. Runs once.
 */
function cleanUp(interrupt: boolean): Promise<void> {
  cleanedUp ??= (async () => {
    if (!schemaCreated) return;
    const admin = new pg.Client({ connectionString });
    await admin.connect();
    try {
      const pid = (client as unknown as { processID?: number | null }).processID;
      if (interrupt && pid) await admin.query("select pg_terminate_backend($1)", [pid]);
      await admin.query(`drop schema if exists ${schema} cascade`);
    } finally {
      await admin.end();
    }
  })();
  return cleanedUp;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nexplain: ${signal}, dropping schema ${schema}\n`);
    cleanUp(true).finally(() => process.exit(130));
  });
}
// Terminating our own backend makes the client emit an error; that is expected.
client.on("error", () => undefined);

async function createSchema(): Promise<void> {
  const admin = new pg.Client({ connectionString });
  await admin.connect();
  try {
    await admin.query(`create schema ${schema}`);
    schemaCreated = true;
  } finally {
    await admin.end();
  }
  const database = openPostgres({ connectionString, schema, max: 1 });
  try {
    const applied = await migrate(database);
    log(`schema ${schema}: applied ${applied.join(", ")}`);
  } finally {
    await database.close();
  }
}

/**
 * 1,000 users (the first an admin); 100,000 datasets, 100 each, owners interleaved in time
 * (dataset n belongs to user n mod 1000, one second apart), names from a few word lists in
 * varied case, a third of descriptions null: the benchmark's seed (bench/harness/seed.ts).
 */
async function seed(): Promise<void> {
  const started = Date.now();
  await seedUsers(client, { count: USERS, passwordHash: "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012", admins: 1 });
  await seedDatasets(client, { count: DATASETS, users: USERS });
  await client.query("analyze users");
  // The trigram indexes (migrations/007) took the seed into their pending lists; autovacuum
  // would merge them soon after such a load in production, so merge them before measuring.
  await client.query("vacuum analyze datasets");
  const [counts] = (
    await client.query<{ users: number; datasets: number }>(
      "select (select count(*) from users)::int as users, (select count(*) from datasets)::int as datasets",
    )
  ).rows;
  log(`seeded ${counts?.users} users and ${counts?.datasets} datasets in ${Date.now() - started} ms, analyzed`);
  const sizes = await client.query<{ name: string; size: string }>(
    `select c.relname as name, pg_size_pretty(pg_relation_size(c.oid)) || ' (' || c.relpages || ' pages)' as size
     from pg_class c where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'i')
       and c.relname not like 'schema_migrations%' order by c.relkind desc, c.relname`,
    [schema],
  );
  log(sizes.rows.map((row) => `  ${row.name}: ${row.size}`).join("\n"));
}

// ---------------------------------------------------------------------------------------
// Running one case

/** A parameter value as an EXECUTE argument: an untyped literal, as the driver sends text. */
function literal(value: Param): string {
  if (value === null) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") return client.escapeLiteral(value);
  return client.escapeLiteral(`{${value.map((item) => `"${item.replace(/["\\]/g, "\\$&")}"`).join(",")}}`);
}

/** Reads are measured this many times (after a warm-up run); the median time is reported. */
const RUNS = 3;

type ExplainJson = [{ Plan: PlanNode; "Planning Time": number; "Execution Time": number }];

/**
 * EXPLAIN (ANALYZE, BUFFERS) of one fresh prepared statement. By default at most 5
 * executions, so every one gets a custom plan (PostgreSQL considers a generic plan from
 * the 6th on), as the driver's unnamed statements, re-parsed on every call, always do.
 */
async function explain(test: Case): Promise<Explained> {
  const args = test.params.length > 0 ? `(${test.params.map(literal).join(", ")})` : "";
  if (test.write) await client.query("begin");
  try {
    await client.query(`prepare explain_q as ${test.sql}`);
    // Warm-up runs for reads, so timings do not include first-touch reads.
    for (let run = 0; run < (test.write ? 0 : (test.warmUps ?? 1)); run += 1) await client.query(`execute explain_q${args}`);
    const runs: ExplainJson[0][] = [];
    for (let run = 0; run < (test.write ? 1 : RUNS); run += 1) {
      const { rows } = await client.query<{ "QUERY PLAN": ExplainJson }>(`explain (analyze, buffers, format json) execute explain_q${args}`);
      runs.push(rows[0]!["QUERY PLAN"][0]);
    }
    if (VERBOSE) {
      const text = await client.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers) execute explain_q${args}`);
      log(text.rows.map((row) => `      ${row["QUERY PLAN"]}`).join("\n"));
    }
    const median = <T>(values: T[], of: (value: T) => number) => values.map(of).sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const plan = runs.at(-1)!.Plan;
    return {
      label: test.label,
      plan,
      planningMs: median(runs, (run) => run["Planning Time"]),
      executionMs: median(runs, (run) => run["Execution Time"]),
      indexes: [...new Set(nodes(plan).flatMap((node) => (node["Index Name"] ? [node["Index Name"]] : [])))],
      flags: flagsOf(plan),
    };
  } finally {
    await client.query("deallocate explain_q");
    if (test.write) await client.query("rollback");
  }
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** What deserves a look: big sequential scans, big sorts, many rows read only to be dropped. */
function flagsOf(plan: PlanNode): string[] {
  const flags: string[] = [];
  for (const node of nodes(plan)) {
    const produced = node["Actual Rows"] * node["Actual Loops"];
    const removed = (node["Rows Removed by Filter"] ?? 0) + (node["Rows Removed by Index Recheck"] ?? 0);
    const read = produced + removed;
    if (node["Node Type"] === "Seq Scan" && read > FLAG_ROWS) flags.push(`SEQ SCAN ${node["Relation Name"]} (${read} rows)`);
    if (node["Node Type"].endsWith("Sort") && produced > FLAG_ROWS) flags.push(`SORT of ${produced} rows`);
    if (node["Node Type"] !== "Seq Scan" && removed > FLAG_ROWS) flags.push(`${removed} rows filtered out`);
  }
  return flags;
}

/** The plan as a compact tree: node, index, direction, rows, and what limits it. */
function describe(plan: PlanNode, depth = 0): string[] {
  const node = plan;
  const parts = [node["Node Type"]];
  if (node["Scan Direction"] === "Backward") parts.push("Backward");
  if (node["Index Name"]) parts.push(`using ${node["Index Name"]}`);
  if (node["Relation Name"] && !node["Index Name"]) parts.push(`on ${node["Relation Name"]}`);
  parts.push(`rows=${node["Actual Rows"]}${node["Actual Loops"] > 1 ? `x${node["Actual Loops"]}` : ""}`);
  if (node["Rows Removed by Filter"]) parts.push(`filtered=${node["Rows Removed by Filter"]}`);
  if (node["Heap Fetches"] !== undefined) parts.push(`heap-fetches=${node["Heap Fetches"]}`);
  if (node["Sort Key"]) parts.push(`key=${node["Sort Key"].join(", ")}`);
  if (node["Sort Method"]) parts.push(`(${node["Sort Method"]})`);
  const buffers = node["Shared Hit Blocks"] + node["Shared Read Blocks"];
  parts.push(`buffers=${buffers}`);
  const lines = [`${"  ".repeat(depth + 2)}${parts.join(" ")}`];
  for (const [name, condition] of [
    ["cond", node["Index Cond"] ?? node["Recheck Cond"]],
    ["filter", node.Filter],
  ] as const) {
    if (condition) lines.push(`${"  ".repeat(depth + 3)}${name}: ${shorten(condition)}`);
  }
  return [...lines, ...(plan.Plans ?? []).flatMap((child) => describe(child, depth + 1))];
}

/** UUIDs and long casts make conditions unreadable; keep their first 8 characters. */
function shorten(condition: string): string {
  return condition.replace(/'([0-9a-f]{8})-[0-9a-f-]{27}'::uuid/g, "'$1…'").slice(0, 220);
}

const results: Explained[] = [];

async function run(test: Case): Promise<Explained> {
  const result = await explain(test);
  results.push(result);
  const flags = result.flags.length > 0 ? `  !! ${result.flags.join("; ")}` : "";
  log(`\n  ${result.label}: ${result.executionMs.toFixed(3)} ms (planning ${result.planningMs.toFixed(3)} ms)${flags}`);
  log(describe(result.plan).join("\n"));
  return result;
}

// ---------------------------------------------------------------------------------------
// The cases

/** As src/common/search.ts's containsPattern: the search as an ILIKE substring, `%` `_` `\` escaped. */
const contains = (search: string) => `%${search.replace(/[\\%_]/g, "\\$&")}%`;

interface Fixtures {
  owner: string;
  /** A dataset of `owner`. */
  datasetId: string;
  email: string;
  userIds: string[];
}

async function fixtures(): Promise<Fixtures> {
  const owner = (await client.query<{ id: string; email: string }>("select id, email from users where username = 'user_0500'")).rows[0]!;
  const dataset = (await client.query<{ id: string }>("select id from datasets where user_id = $1 order by created_at limit 1 offset 40", [owner.id]))
    .rows[0]!;
  const users = await client.query<{ id: string }>("select id from users order by username limit 100 offset 300");
  return { owner: owner.id, datasetId: dataset.id, email: owner.email, userIds: users.rows.map((row) => row.id) };
}

/**
 * The cursor the server would issue for the row at `offset` in `ordering` (within one
 * owner's datasets, or all): ORDERINGS' own `keyOf`, on the row read with the page's columns.
 */
async function cursorAt(ordering: Ordering, ownerId: string | null, offset: number): Promise<[string, string]> {
  const { rows } = await client.query<DatasetListRow>(
    `select id, created_at as "createdAt", lower(name) as "sortName" from datasets
     where ($1::uuid is null or user_id = $1)
     order by ${ordering.sqlKey} ${ordering.direction}, id ${ordering.direction}
     offset $2 limit 1`,
    [ownerId, offset],
  );
  const row = rows[0]!;
  return [ordering.keyOf(row), row.id];
}

async function pageCases(order: DatasetOrder, owner: string): Promise<Case[]> {
  const ordering = ORDERINGS[order];
  const [ownerKey, ownerId] = await cursorAt(ordering, owner, DATASETS_PER_USER / 2);
  const [deepKey, deepId] = await cursorAt(ordering, null, Math.floor(DATASETS * 0.9));
  const page = (values: Parameters<typeof listCase>[2]) => listCase(order, PAGE_ONLY, values);
  return [
    { label: `${order} a. one owner, first page`, ...page({ ownerId: owner }) },
    { label: `${order} b. one owner, after cursor (row 50)`, ...page({ ownerId: owner, afterKey: ownerKey, afterId: ownerId }) },
    { label: `${order} c. all owners, first page`, ...page({}) },
    { label: `${order} d. all owners, after cursor (row 90,000)`, ...page({ afterKey: deepKey, afterId: deepId }) },
    { label: `${order} e. one owner, search "${COMMON_WORD}"`, ...page({ ownerId: owner, pattern: contains(COMMON_WORD) }) },
    { label: `${order} f. all owners, search "${COMMON_WORD}"`, ...page({ pattern: contains(COMMON_WORD) }) },
    { label: `${order} f'. all owners, search "${RARE_WORD}" (no match)`, ...page({ pattern: contains(RARE_WORD) }) },
  ];
}

async function baseline(f: Fixtures): Promise<void> {
  log("\n== Users");
  await run({ label: "USERS_BY_IDS (100 ids)", sql: userSql.USERS_BY_IDS, params: [f.userIds] });
  await run({ label: "USERS_BY_IDS (21 ids: one page's owners)", sql: userSql.USERS_BY_IDS, params: [f.userIds.slice(0, LIMIT)] });
  // 1,000 users fill 22 pages: reading them all beats 21 index probes. For comparison:
  await client.query("set enable_seqscan = off");
  try {
    await run({ label: "USERS_BY_IDS (21 ids), seq scan disabled", sql: userSql.USERS_BY_IDS, params: [f.userIds.slice(0, LIMIT)] });
  } finally {
    await client.query("reset enable_seqscan");
  }
  await run({ label: "USER_CREDENTIALS_BY_EMAIL", sql: userSql.USER_CREDENTIALS_BY_EMAIL, params: [f.email] });
  await run({
    label: "INSERT_USER",
    ...(await sentBy((db) => insertUser(db, { email: "new.user@example.com", username: "new_user", passwordHash: "$2b$12$hash", role: "USER" }))),
    write: true,
  });
  await run({ label: "SET_ROLE", ...(await sentBy((db) => setRole(db, f.owner, "ADMIN"))), write: true });

  for (const order of Object.keys(ORDERINGS) as DatasetOrder[]) {
    log(`\n== DATASET_PAGE ${order}`);
    for (const test of await pageCases(order, f.owner)) await run(test);
  }

  // What the server sends when the client selects totalCount and (admin lists) owners:
  // the page above as a CTE, word for word, with the count and the owners joined to it.
  for (const order of Object.keys(ORDERINGS) as DatasetOrder[]) {
    log(`\n== datasetList ${order}: the page with its count and owners`);
    const [ownerKey, ownerId] = await cursorAt(ORDERINGS[order], f.owner, DATASETS_PER_USER / 2);
    const [deepKey, deepId] = await cursorAt(ORDERINGS[order], null, Math.floor(DATASETS * 0.9));
    const counted = { totalCount: true, owners: false };
    const both = { totalCount: true, owners: true };
    const owners = { totalCount: false, owners: true };
    await run({ label: `${order} +count a. one owner, first page`, ...listCase(order, counted, { ownerId: f.owner }) });
    await run({
      label: `${order} +count b. one owner, after cursor (row 50)`,
      ...listCase(order, counted, { ownerId: f.owner, afterKey: ownerKey, afterId: ownerId }),
    });
    await run({ label: `${order} +owners c. all owners, first page`, ...listCase(order, owners, {}) });
    await run({ label: `${order} +count+owners c. all owners, first page`, ...listCase(order, both, {}) });
    await run({
      label: `${order} +count+owners d. all owners, after cursor (row 90,000)`,
      ...listCase(order, both, { afterKey: deepKey, afterId: deepId }),
    });
    await run({
      label: `${order} +count+owners e. one owner, search "${COMMON_WORD}"`,
      ...listCase(order, both, { ownerId: f.owner, pattern: contains(COMMON_WORD) }),
    });
  }

  log("\n== Users list");
  await run({ label: "USER_PAGE first page", sql: userSql.USER_PAGE, params: [null, null, null, LIMIT] });
  await run({ label: "USER_PAGE_WITH_COUNT first page", sql: userSql.USER_PAGE_WITH_COUNT, params: [null, null, null, LIMIT] });

  log("\n== Other dataset statements");
  await run({ label: "DATASET_COUNT one owner", ...countCase(f.owner, null) });
  await run({ label: "DATASET_COUNT all owners", ...countCase(null, null) });
  await run({ label: `DATASET_COUNT one owner, search "${COMMON_WORD}"`, ...countCase(f.owner, contains(COMMON_WORD)) });
  await run({ label: `DATASET_COUNT all owners, search "${COMMON_WORD}"`, ...countCase(null, contains(COMMON_WORD)) });
  await run({ label: `DATASET_COUNT all owners, search "${RARE_WORD}"`, ...countCase(null, contains(RARE_WORD)) });
  await run({ label: "DATASET_BY_ID owner", sql: datasetSql.DATASET_BY_ID, params: [f.datasetId, ...READ_AS(f.owner, false)] });
  await run({ label: "DATASET_BY_ID admin", sql: datasetSql.DATASET_BY_ID, params: [f.datasetId, ...READ_AS(f.owner, true)] });
  // Sharing: the lists of datasets shared with a user (none here: the plans, not the rows, are the point).
  for (const scope of ["shared", "ownedOrShared"] as const) {
    await run({
      label: `datasetList CREATED_AT_DESC ${scope}`,
      ...listCase("CREATED_AT_DESC", { totalCount: true, owners: true }, { ownerId: f.owner, scope }),
    });
  }
  const audit = createAuditLog();
  const newDataset = { name: "New dataset", description: "A description", filePath: "/data/new.csv" };
  await run({ label: "INSERT_DATASET", ...(await sentBy((db) => insertDataset(db, audit, f.owner, newDataset))), write: true });
  await run({
    label: "UPDATE_DATASET (name only)",
    ...(await sentBy((db) => updateDataset(db, audit, f.datasetId, scopeOf(f.owner, false, "write"), { name: "Renamed" }))),
    write: true,
  });
  await run({
    label: "DELETE_DATASET",
    ...(await sentBy((db) => deleteDataset(db, audit, f.datasetId, scopeOf(f.owner, false, "manage")))),
    write: true,
  });
}

/** A dataset statement's scope (policy/dataset-access.ts) for a user, or an admin. */
const scopeOf = (userId: string, admin: boolean, action: DatasetAction): DatasetScope => ({
  userId,
  admin,
  allowed: DATASET_ACTIONS[action],
  datasets: null,
});
/** Its parameters, for the statements run here by their text. */
const READ_AS = (userId: string, admin: boolean) => scopeParams(scopeOf(userId, admin, "read"));

/**
 * The statement a store function sends and its parameters, without running it: the writes
 * are explained as the server's own code builds them, so their values are named (in the
 * store's arguments) and a new column changes nothing here.
 */
async function sentBy(call: (db: Queryable) => Promise<unknown>): Promise<{ sql: string; params: Param[] }> {
  const sent: Array<{ sql: string; params: Param[] }> = [];
  const recorder: Queryable = {
    async query<Row>(text: string, params?: readonly unknown[]) {
      sent.push({ sql: text, params: [...(params ?? [])] as Param[] });
      return [{}] as Row[];
    },
    async queryArrays(text: string, params?: readonly unknown[]) {
      sent.push({ sql: text, params: [...(params ?? [])] as Param[] });
      return [];
    },
  };
  await call(recorder);
  if (sent.length !== 1) throw new Error(`explain: a store call sent ${sent.length} statements, expected one`);
  return sent[0]!;
}

/**
 * The generic plans (one plan for all parameter values) the server gets from the 6th
 * execution of a named prepared statement (DATABASE_PREPARED_STATEMENTS), forced here with
 * plan_cache_mode = force_generic_plan. The lists are written per case so that no
 * `$1 is null or user_id = $1` test is left for a generic plan to be wrong about.
 */
async function genericPlans(f: Fixtures): Promise<void> {
  log("\n== Generic plans (plan_cache_mode = force_generic_plan): what prepared statements get");
  await client.query("set plan_cache_mode = force_generic_plan");
  try {
    const [key, id] = await cursorAt(ORDERINGS.CREATED_AT_DESC, f.owner, DATASETS_PER_USER / 2);
    const page = (values: Parameters<typeof listCase>[2]) => listCase("CREATED_AT_DESC", PAGE_ONLY, values);
    await run({ label: "generic: CREATED_AT_DESC a. one owner, first page", ...page({ ownerId: f.owner }) });
    await run({ label: "generic: CREATED_AT_DESC b. one owner, after cursor", ...page({ ownerId: f.owner, afterKey: key, afterId: id }) });
    await run({ label: "generic: CREATED_AT_DESC c. all owners, first page", ...page({}) });
    await run({
      label: "generic: CREATED_AT_DESC +count a. one owner, first page",
      ...listCase("CREATED_AT_DESC", { totalCount: true, owners: false }, { ownerId: f.owner }),
    });
    await run({
      label: "generic: CREATED_AT_DESC +owners c. all owners, first page",
      ...listCase("CREATED_AT_DESC", { totalCount: false, owners: true }, {}),
    });
    await run({ label: "generic: NAME_ASC a. one owner, first page", ...listCase("NAME_ASC", PAGE_ONLY, { ownerId: f.owner }) });
    await run({ label: "generic: DATASET_COUNT one owner", ...countCase(f.owner, null) });
    await run({ label: "generic: DATASET_BY_ID owner", sql: datasetSql.DATASET_BY_ID, params: [f.datasetId, ...READ_AS(f.owner, false)] });
  } finally {
    await client.query("reset plan_cache_mode");
  }
}

/** `select count(*)` over every dataset: as loaded (visibility map unset), then after VACUUM. */
async function countAll(): Promise<void> {
  log("\n== select count(*) from datasets");
  const sql = "select count(*) from datasets";
  await run({ label: "count(*) all datasets, after ANALYZE only", sql, params: [] });
  await client.query("vacuum analyze datasets");
  await run({ label: "count(*) all datasets, after VACUUM", sql, params: [] });
}

function summary(): void {
  log("\n== Summary");
  const width = Math.max(...results.map((result) => result.label.length));
  for (const result of results) {
    const verdict = result.flags.length > 0 ? `!! ${result.flags.join("; ")}` : "ok";
    const indexes = result.indexes.length > 0 ? result.indexes.join(" + ") : "(no index)";
    log(`  ${result.label.padEnd(width)}  ${result.executionMs.toFixed(3).padStart(8)} ms  ${indexes}  ${verdict}`);
  }
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  await createSchema();
  await client.connect();
  const { rows } = await client.query<{ version: string }>("select version()");
  log(rows[0]!.version);
  await seed();
  const f = await fixtures();
  await baseline(f);
  await genericPlans(f);
  await countAll();
  summary();
}

main()
  .then(
    () => 0,
    (error: unknown) => {
      process.stderr.write(`explain: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    },
  )
  .then(async (code) => {
    await client.end().catch(() => undefined);
    await cleanUp(false).catch((error: unknown) => {
      process.stderr.write(`explain: could not drop schema ${schema}: ${error instanceof Error ? error.message : String(error)}\n`);
      code = 1;
    });
    process.exit(code);
  });
