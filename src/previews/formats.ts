/**
 * Which files are tables, and how to read them: decided from the file's name (its extension),
 * else its content type. Everything else is UNSUPPORTED and never read. The bytes must then be
 * what the name says; when they are not, the profile is FAILED with a reason.
 */

export type TableFormat = "csv" | "tsv" | "parquet" | "jsonl" | "json";
export type Compression = "none" | "gzip";

/** How one content is read: the key of its profile, with the content's sha256. */
export interface ReadAs {
  format: TableFormat;
  compression: Compression;
}

const BY_EXTENSION: Record<string, TableFormat> = {
  csv: "csv",
  tsv: "tsv",
  tab: "tsv",
  parquet: "parquet",
  pq: "parquet",
  jsonl: "jsonl",
  ndjson: "jsonl",
  json: "json",
};

// Parquet compresses inside the file: a gzipped Parquet file is not read.
const COMPRESSIBLE: ReadonlySet<TableFormat> = new Set(["csv", "tsv", "jsonl", "json"]);

const BY_CONTENT_TYPE: Record<string, TableFormat> = {
  "text/csv": "csv",
  "application/csv": "csv",
  "text/tab-separated-values": "tsv",
  "application/vnd.apache.parquet": "parquet",
  "application/x-parquet": "parquet",
  "application/x-ndjson": "jsonl",
  "application/jsonl": "jsonl",
  "application/json": "json",
};

/** How a file named `path` with `contentType` is read as a table, or null: not a table (UNSUPPORTED). */
export function tableFormatOf(path: string, contentType: string): ReadAs | null {
  const name = (path.split("/").at(-1) ?? "").toLowerCase();
  const parts = name.split(".");
  if (parts.length >= 2) {
    const last = parts.at(-1)!;
    if (last === "gz" || last === "gzip") {
      const inner = parts.length >= 3 ? BY_EXTENSION[parts.at(-2)!] : undefined;
      return inner && COMPRESSIBLE.has(inner) ? { format: inner, compression: "gzip" } : null;
    }
    const format = BY_EXTENSION[last];
    if (format) return { format, compression: "none" };
  }
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  const format = BY_CONTENT_TYPE[type];
  return format ? { format, compression: "none" } : null;
}
