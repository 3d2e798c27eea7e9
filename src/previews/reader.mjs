// The profiler: one child process per profile, started by run-reader.ts, killed at the time
// limit. DuckDB reads one local file under its own memory and thread limits, with every other
// file, every extension download and every setting change shut off before a byte is read.
// Plain JavaScript: the child starts with plain Node, no TypeScript loader.
//
// In: one IPC message { path, format, compression, memoryLimitBytes, threads, temporaryDirectory,
// maxRows, maxValueChars, maxRowsBytes, maxExpandedBytes, maxJsonDepth, tablePath }. Out: one message, then exit:
//   { ok: true, rowCount, columns: [{ name, type, nullCount }], rows: [[…]], profiles: [ColumnProfile] | null, peakBytes }
// With `tablePath`, the table is first written there as Parquet (the columnar copy row queries
// read: its row position `r`, then the columns as c0, c1, …), and everything else is read from it.
//   { ok: false, message, peakBytes }  (DuckDB's own text: the parent turns it into ours)
//   { ok: false, refused: "expanded" | "nesting" | "gzip", peakBytes }  (DuckDB never saw the file: see `scan`)
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createGunzip } from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import { columnProfile } from "./column-stats.mjs";

/** A SQL string literal. */
const literal = (value) => `'${String(value).replaceAll("'", "''")}'`;
/** A SQL identifier. */
const identifier = (name) => `"${String(name).replaceAll('"', '""')}"`;

const DELIMITER_CANDIDATES = [",", ";", "\t", "|"];

/** The peak resident memory of this process so far (VmHWM), in bytes; null where /proc is absent. */
async function peakBytes() {
  try {
    const status = await readFile("/proc/self/status", "utf8");
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib ? Number(kib) * 1024 : null;
  } catch {
    return null;
  }
}

/** The file's first line (at most 1 MiB of it), decompressed when it is gzip. */
async function firstLine(path, compression) {
  const source = createReadStream(path, { start: 0, end: 4 * 2 ** 20 });
  const stream = compression === "gzip" ? source.pipe(createGunzip()) : source;
  let text = "";
  try {
    for await (const chunk of stream) {
      text += chunk.toString("utf8");
      const end = text.search(/\r?\n/);
      if (end !== -1) return text.slice(0, end);
      if (text.length > 2 ** 20) break;
    }
  } catch {
    // Not gzip after all, or cut short: what arrived is all there is.
  } finally {
    source.destroy();
  }
  return text.replace(/^\uFEFF/, "");
}

/** The delimiter a header line most likely uses, or null (one column). */
function likelyDelimiter(line) {
  let best = null;
  let most = 0;
  for (const candidate of DELIMITER_CANDIDATES) {
    const count = line.split(candidate).length - 1;
    if (count > most) {
      best = candidate;
      most = count;
    }
  }
  return best;
}

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Reads the bytes DuckDB would read, before it does, and refuses what it must not be given:
 * a gzip stream that expands beyond `maxExpandedBytes` (a small upload that costs a worker
 * minutes), and JSON nested deeper than `maxJsonDepth` (DuckDB's JSON reader recurses once
 * per level and dies of a native stack overflow some thousands deep, after minutes).
 * Returns "expanded", "nesting", "gzip" (not a whole gzip stream: DuckDB's own reader may be
 * more lenient, and would then expand past where this stopped counting), or null: nothing to
 * refuse. Plain CSV, TSV and Parquet are not read here.
 */
async function scan(job) {
  const gzip = job.compression === "gzip";
  const json = job.format === "json" || job.format === "jsonl";
  if (!gzip && !json) return null;
  const source = createReadStream(job.path, { highWaterMark: 2 ** 16 });
  const stream = gzip ? source.pipe(createGunzip({ chunkSize: 2 ** 16 })) : source;
  source.on("error", (error) => stream.destroy(error));
  let expanded = 0;
  // Depth of [ and { outside strings; a stray closer never makes room for more, and a stray
  // quote hides nothing past its line (a JSON string holds no raw line break).
  let depth = 0;
  let inString = false;
  let escaped = false;
  try {
    for await (const chunk of stream) {
      expanded += chunk.length;
      if (gzip && expanded > job.maxExpandedBytes) return "expanded";
      if (!json) continue;
      for (let index = 0; index < chunk.length; index++) {
        const byte = chunk[index];
        if (byte === NEWLINE) {
          inString = false;
          escaped = false;
        } else if (inString) {
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) inString = false;
        } else if (byte === QUOTE) inString = true;
        else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
          depth += 1;
          if (depth > job.maxJsonDepth) return "nesting";
        } else if ((byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) && depth > 0) depth -= 1;
      }
    }
  } catch (error) {
    if (gzip) return "gzip";
    throw error;
  } finally {
    stream.destroy();
    source.destroy();
  }
  return null;
}

async function one(connection, sql) {
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowObjectsJson()[0];
}

/**
 * A strict read_csv over the whole file: the dialect, header and types DuckDB's sniffer found
 * (from line 1: it may not skip lines), then every row checked against them, so a row with
 * more or fewer fields than the header is an error naming its line. When the sniffer finds no
 * dialect, or settles on one column where the header line plainly holds a delimiter (it does
 * so for ragged files), the header line is split by that delimiter and read as text: DuckDB
 * then says which line breaks the table.
 */
async function csvSource(connection, job, sampleWholeFile) {
  const path = literal(job.path);
  const compression = `compression=${literal(job.compression)}`;
  const forcedDelimiter = job.format === "tsv" ? "\t" : undefined;
  const sniffOptions = [compression, "skip=0", ...(forcedDelimiter ? [`delim=${literal(forcedDelimiter)}`] : [])];
  if (sampleWholeFile) sniffOptions.push("sample_size=-1");
  let sniffed;
  try {
    sniffed = await one(connection, `select * from sniff_csv(${path}, ${sniffOptions.join(", ")})`);
  } catch (error) {
    sniffed = undefined;
    if (!/sniff|dialect/i.test(error.message)) throw error;
  }
  const sniffedColumns = sniffed?.Columns ?? [];
  const header = sniffed && sniffedColumns.length > 1 ? undefined : await firstLine(job.path, job.compression);
  const headerDelimiter =
    header === undefined ? null : forcedDelimiter ? (header.includes(forcedDelimiter) ? forcedDelimiter : null) : likelyDelimiter(header);
  if (sniffed && (header === undefined || headerDelimiter === null)) {
    const options = [
      "auto_detect=false",
      compression,
      `delim=${literal(sniffed.Delimiter)}`,
      `quote=${literal(sniffed.Quote === "(empty)" ? "" : sniffed.Quote)}`,
      `escape=${literal(sniffed.Escape === "(empty)" ? "" : sniffed.Escape)}`,
      `header=${sniffed.HasHeader ? "true" : "false"}`,
      "skip=0",
      "strict_mode=true",
      `columns={${sniffedColumns.map((column) => `${literal(column.name)}: ${literal(column.type)}`).join(", ")}}`,
    ];
    if (sniffed.Comment && sniffed.Comment !== "(empty)") options.push(`comment=${literal(sniffed.Comment)}`);
    if (sniffed.DateFormat) options.push(`dateformat=${literal(sniffed.DateFormat)}`);
    if (sniffed.TimestampFormat) options.push(`timestampformat=${literal(sniffed.TimestampFormat)}`);
    return `read_csv(${path}, ${options.join(", ")})`;
  }
  if (headerDelimiter === null) throw new Error("no CSV dialect found");
  const names = header.split(headerDelimiter).map((name, index) => name.trim().replace(/^"(.*)"$/, "$1") || `column${index}`);
  const columns = names.map((name) => `${literal(name)}: 'VARCHAR'`).join(", ");
  return `read_csv(${path}, auto_detect=false, ${compression}, delim=${literal(headerDelimiter)}, quote='"', escape='"', header=true, skip=0, strict_mode=true, columns={${columns}})`;
}

async function sourceOf(connection, job, sampleWholeFile) {
  const path = literal(job.path);
  // read_json names it otherwise than read_csv.
  const compression = `compression=${literal(job.compression === "gzip" ? "gzip" : "uncompressed")}`;
  const sample = sampleWholeFile ? ", sample_size=-1" : "";
  switch (job.format) {
    case "csv":
    case "tsv":
      return csvSource(connection, job, sampleWholeFile);
    case "parquet":
      return `read_parquet(${path})`;
    case "jsonl":
      return `read_json(${path}, format='newline_delimited', records=true, ${compression}${sample})`;
    case "json":
      return `read_json(${path}, format='array', records=true, ${compression}${sample})`;
    default:
      throw new Error(`unknown format ${job.format}`);
  }
}

/** BIGINT and wider come back as strings: numbers when they fit a double exactly. */
const INTEGER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;

/** A DECIMAL value of at most 15 significant digits: a double holds it as written. */
const exactAsDouble = (type, value) => type.startsWith("DECIMAL") && value.replace(/^-?0*\.?0*|[.]/g, "").length <= 15;

/** `value` with every string longer than `max` characters cut to `max` and marked with "…". */
function cut(value, max) {
  if (typeof value === "string") return value.length > max ? `${value.slice(0, max)}…` : value;
  if (Array.isArray(value)) return value.map((item) => cut(item, max));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, cut(item, max)]));
  return value;
}

/**
 * Writes the table to `job.tablePath` as Parquet: `r`, the row's position in the file from 0,
 * then each column as c<index>. One thread numbers rows in file order (the reader's default),
 * and whatever order they got, the copy keeps it: pages sorted by it stay stable.
 */
async function writeCopy(connection, source, names, tablePath) {
  const columns = names.map((name, index) => `${identifier(name)} as c${index}`).join(", ");
  // Uncompressed (its pages still dictionary- and run-length-encoded): about twice the bytes of
  // Snappy's, and row queries scan it about 1.6 times as fast (docs/tables.md).
  await connection.run(
    `copy (select (row_number() over ())::bigint - 1 as r, ${columns} from ${source}) to ${literal(tablePath)} (format parquet, compression 'uncompressed')`,
  );
  const described = (await connection.runAndReadAll(`describe select * exclude (r) from read_parquet(${literal(tablePath)})`)).getRowObjectsJson();
  return described.map((row) => String(row.column_type));
}

async function profile(connection, job, sampleWholeFile) {
  const source = await sourceOf(connection, job, sampleWholeFile);
  const described = (await connection.runAndReadAll(`describe select * from ${source}`)).getRowObjectsJson();
  const names = described.map((row) => String(row.column_name));
  const types = described.map((row) => String(row.column_type));
  // With a copy, every other read is of the copy: the file is parsed once.
  const copied = job.tablePath && names.length > 0;
  const storedTypes = copied ? await writeCopy(connection, source, names, job.tablePath) : null;
  const table = copied ? `read_parquet(${literal(job.tablePath)})` : source;
  const ref = (index) => (copied ? `c${index}` : identifier(names[index]));
  const counts = [`count(*)::bigint`, ...names.map((_, index) => `count(${ref(index)})::bigint`)];
  const [totals] = (await connection.runAndReadAll(`select ${counts.join(", ")} from ${table}`)).getRowsJson();
  const rowCount = Number(totals[0]);
  const columns = names.map((name, index) => ({ name, type: types[index], nullCount: rowCount - Number(totals[index + 1]) }));

  const rows = [];
  let bytes = 0;
  if (rowCount > 0 && names.length > 0) {
    const list = names.map((_, index) => ref(index)).join(", ");
    const first = await connection.runAndReadAll(`select ${list} from ${table} ${copied ? "order by r" : ""} limit ${Number(job.maxRows)}`);
    for (const raw of first.getRowsJson()) {
      const row = raw.map((value, index) => {
        if (typeof value === "string" && INTEGER_TYPES.test(types[index]) && Number.isSafeInteger(Number(value))) return Number(value);
        if (typeof value === "string" && exactAsDouble(types[index], value)) return Number(value);
        return cut(value, job.maxValueChars);
      });
      bytes += Buffer.byteLength(JSON.stringify(row));
      // Wide rows: fewer of them, so that a preview stays small.
      if (bytes > job.maxRowsBytes && rows.length > 0) break;
      rows.push(row);
    }
  }
  let profiles = null;
  if (copied) {
    profiles = [];
    for (const [index, column] of columns.entries()) {
      const stored = { name: column.name, type: column.type, storedType: storedTypes[index] };
      const made = await columnProfile(connection, table, index, stored, rowCount - column.nullCount, rowCount, job.maxValueChars);
      profiles.push({ ...made, storedType: storedTypes[index] });
    }
  }
  return { rowCount, columns, rows, profiles };
}

async function run(job) {
  const instance = await DuckDBInstance.create(":memory:", {
    memory_limit: `${Math.max(1, Math.floor(job.memoryLimitBytes / 2 ** 20))}MiB`,
    threads: String(job.threads),
    temp_directory: job.temporaryDirectory,
    // No downloads: the readers needed (CSV, Parquet, JSON) are built into the bundled library.
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
  });
  const connection = await instance.connect();
  try {
    // This one file and nothing else; then no setting can change (not even by SQL).
    const allowed = job.tablePath ? [job.path, job.tablePath] : [job.path];
    await connection.run(`set allowed_paths = [${allowed.map(literal).join(", ")}]`);
    await connection.run("set enable_external_access = false");
    await connection.run("set lock_configuration = true");
    try {
      return await profile(connection, job, false);
    } catch (error) {
      // The sniffer guesses types from a sample; a later value of another type means the
      // sample misled it: sniff the whole file instead (slower, and only then).
      if (job.format !== "parquet" && /Could not convert|Conversion Error|Could not parse/i.test(error.message)) {
        return await profile(connection, job, true);
      }
      throw error;
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function answer(job) {
  const refused = await scan(job);
  if (refused) return { ok: false, refused, peakBytes: await peakBytes() };
  return run(job).then(
    async (result) => ({ ok: true, ...result, peakBytes: await peakBytes() }),
    async (error) => ({ ok: false, message: String(error?.message ?? error), peakBytes: await peakBytes() }),
  );
}

process.once("message", (job) => {
  answer(job).then((message) => {
    process.send(message, () => process.exit(0));
  });
});
