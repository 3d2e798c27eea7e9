// A table reader: one long-lived child process of the pool (reader-pool.ts), answering row
// queries one at a time over IPC. DuckDB runs with its memory limit, its threads and a
// directory to spill to, reading only files under the allowed directories (the tables'
// copies), with no extension downloads and its configuration locked before the first query.
// Plain JavaScript: the child starts with plain Node, no TypeScript loader.
//
// Start: argv[2] is JSON { memoryLimitBytes, threads, temporaryDirectory, allowedDirectories, maxValueChars }.
// Out first: { ready: true } once DuckDB is open.
// In: { id, path, select, where, orderBy, params, limit, offset, count }. Out: { id, ok: true, rows, total }
// (total null when `count` is false: the parent knows it already) or { id, ok: false, message }
// (DuckDB's own text: the parent logs it and never shows it).
import { DuckDBInstance } from "@duckdb/node-api";
import { jsonValue } from "../previews/column-stats.mjs";

const settings = JSON.parse(process.argv[2]);
const literal = (value) => `'${String(value).replaceAll("'", "''")}'`;
// The copy's own column names only (query.ts picks them): r, c0, c1, …
const REF = /^(r|c\d{1,6})$/;

async function open() {
  const instance = await DuckDBInstance.create(":memory:", {
    memory_limit: `${Math.max(1, Math.floor(settings.memoryLimitBytes / 2 ** 20))}MiB`,
    threads: String(settings.threads),
    temp_directory: settings.temporaryDirectory,
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
  });
  const connection = await instance.connect();
  await connection.run(`set allowed_directories = [${settings.allowedDirectories.map(literal).join(", ")}]`);
  await connection.run("set enable_external_access = false");
  // A timestamp with a time zone given without an offset is UTC (needs ICU, which the bundled library has).
  await connection.run("set TimeZone = 'UTC'").catch(() => {});
  await connection.run("set lock_configuration = true");
  return connection;
}

/** Long strings cut to `max` characters with "…", inside lists and structs too. */
function cut(value, max) {
  if (typeof value === "string") return value.length > max ? `${value.slice(0, max)}…` : value;
  if (Array.isArray(value)) return value.map((item) => cut(item, max));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, cut(item, max)]));
  return value;
}

async function answer(connection, query) {
  if (![...query.select, ...query.orderBy.map((entry) => entry.split(" ")[0])].every((ref) => REF.test(ref))) {
    throw new Error("a column reference that is not the copy's");
  }
  const table = `read_parquet(${literal(query.path)})`;
  const n = query.params.length;
  // First the page's row positions, in order, with the count of every match when asked: one
  // scan of the filter's and the order's columns alone (a count of its own would be a second).
  const ranked = await connection.runAndReadAll(
    `select r${query.count ? ", count(*) over ()::bigint" : ""} from ${table} where ${query.where} order by ${query.orderBy.join(", ")} limit $${n + 1}::bigint offset $${n + 2}::bigint`,
    [...query.params, String(query.limit), String(query.offset)],
  );
  const found = ranked.getRowsJson();
  let total = null;
  if (query.count) {
    // With no row to carry the count (an empty page, or one past the last match), count on its own.
    if (found.length > 0) total = Number(found[0][1]);
    else if (query.offset === 0 && query.limit > 0) total = 0;
    else
      total = Number(
        (await connection.runAndReadAll(`select count(*)::bigint from ${table} where ${query.where}`, query.params)).getRowsJson()[0][0],
      );
  }
  if (found.length === 0) return { total, rows: [] };
  // Then those rows whole, by position (DuckDB's own numbers, checked before they are written in).
  const positions = found.map((row) => String(row[0]));
  if (!positions.every((position) => /^\d{1,19}$/.test(position))) throw new Error("a row position that is not a number");
  const page = await connection.runAndReadAll(`select r, ${query.select.join(", ")} from ${table} where r in (${positions.join(", ")})`);
  const types = page.columnTypes().map((type) => String(type));
  const byPosition = new Map();
  for (const [position, ...values] of page.getRowsJson()) {
    byPosition.set(
      String(position),
      values.map((value, index) => cut(jsonValue(types[index + 1], value, settings.maxValueChars), settings.maxValueChars)),
    );
  }
  const rows = positions.map((position) => byPosition.get(position));
  return { total, rows };
}

const ready = open();
// The pool starts a query's time limit once DuckDB is open (a failure to open is the first query's answer).
ready.then(
  () => process.send({ ready: true }),
  () => process.send({ ready: true }),
);
let chain = Promise.resolve();

process.on("message", (query) => {
  chain = chain.then(async () => {
    let message;
    try {
      const connection = await ready;
      message = { id: query.id, ok: true, ...(await answer(connection, query)) };
    } catch (error) {
      message = { id: query.id, ok: false, message: String(error?.message ?? error) };
    }
    await new Promise((resolve) => process.send(message, resolve));
  });
});
process.on("disconnect", () => process.exit(0));
