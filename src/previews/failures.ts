import type { ReadAs, TableFormat } from "./formats.js";
import { MAX_JSON_DEPTH, type Refusal } from "./run-reader.js";

/**
 * Why a profile is FAILED, in words for the person who uploaded the file. DuckDB's own text
 * (which quotes the file's lines, names our paths and suggests options nobody can set) is
 * never shown: it is recognised here and said our way, keeping at most a line number, which
 * is parsed to an integer before it is used.
 */

const FORMAT_NAMES: Record<TableFormat, string> = {
  csv: "CSV",
  tsv: "TSV (tab-separated)",
  parquet: "Parquet",
  jsonl: "JSON Lines",
  json: "JSON",
};

/** A line number from the engine's text, or null. */
function lineOf(text: string, pattern: RegExp): number | null {
  const found = pattern.exec(text)?.[1];
  const line = found === undefined ? Number.NaN : Number.parseInt(found, 10);
  return Number.isSafeInteger(line) && line > 0 ? line : null;
}

const at = (line: number | null) => (line === null ? "" : `line ${line}: `);

/** The message for DuckDB's `engineMessage` about a file read as `readAs`. */
export function describeEngineFailure(engineMessage: string, readAs: ReadAs): string {
  const text = engineMessage;
  const name = FORMAT_NAMES[readAs.format];
  if (/out of memory|memory limit/i.test(text)) {
    return "Reading this file needs more memory than a preview may use (PREVIEW_MEMORY_LIMIT)";
  }
  if (/not a gzip stream|gzip/i.test(text) && readAs.compression === "gzip") {
    return "The file is not gzip-compressed, though its name ends in .gz";
  }
  if (readAs.format === "csv" || readAs.format === "tsv") {
    const line = lineOf(text, /CSV Error on Line: (\d+)/);
    const columns = /Expected Number of Columns: (\d+) Found: (\d+)/.exec(text);
    if (columns) {
      const expected = Number.parseInt(columns[1]!, 10);
      const found = Number.parseInt(columns[2]!, 10);
      return `${at(line)}${found} ${found === 1 ? "field" : "fields"} where the header has ${expected}`;
    }
    if (/unterminated quote/i.test(text)) return `${at(line)}a quoted value is never closed`;
    if (/invalid unicode|not utf-8|utf-8 encoded/i.test(text)) return `${at(line)}the text is not UTF-8`;
    if (/maximum line size/i.test(text)) return `${at(line)}the line is longer than a CSV reader accepts (about 2 MB)`;
    if (/could not convert|conversion error/i.test(text)) return `${at(line)}a value does not fit its column's type`;
    if (/no CSV dialect found|sniff|dialect/i.test(text)) {
      return `No table found: the file is not ${readAs.format === "tsv" ? "tab" : "comma-, semicolon-, tab- or pipe"}-separated text with the same number of fields on every line`;
    }
    if (line !== null) return `${at(line)}the line cannot be read as ${name}`;
  }
  if (readAs.format === "parquet") {
    if (/magic bytes|not a parquet file/i.test(text)) return "Not a Parquet file: it does not end with a Parquet footer";
    return "The Parquet file is damaged or uses a feature this reader does not know";
  }
  if (readAs.format === "json" || readAs.format === "jsonl") {
    if (/expected top-level JSON array/i.test(text)) return "Not a JSON array: the file should start with [ and hold one object per row";
    if (/expected records|non-record/i.test(text)) return "Each row must be a JSON object ({…}); this file holds other values";
    // DuckDB 1.5's JSON reader names the line after the broken one (a break on line 2 is
    // "in line 3"); tests/previews.test.ts notices when that changes.
    const reported = lineOf(text, /in line (\d+)/);
    const line = reported === null || reported < 2 ? reported : reported - 1;
    if (/malformed JSON|unexpected|invalid/i.test(text)) return `${at(line)}malformed JSON`;
  }
  return `The file could not be read as ${name}`;
}

/** The message for a profile that took longer than the time limit. */
export const timedOut = (seconds: number) => `Reading took longer than the ${seconds} s a preview may take (PREVIEW_TIMEOUT)`;

/** The message for a file over PREVIEW_MAX_BYTES. */
export const tooLarge = (size: number, max: number) =>
  `The file is ${formatBytes(size)}; previews are made of files up to ${formatBytes(max)} (PREVIEW_MAX_BYTES)`;

/** The message for bytes the reader refused before DuckDB saw them (reader.mjs `scan`). */
export function refused(refusal: Refusal, maxExpandedBytes: number): string {
  switch (refusal) {
    case "expanded":
      return `The file expands to more than ${formatBytes(maxExpandedBytes)} once decompressed; previews read at most that much of a compressed file (PREVIEW_MAX_EXPANDED_BYTES)`;
    case "nesting":
      return `The JSON nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep; previews read at most ${MAX_JSON_DEPTH}`;
    case "gzip":
      return "The file is not a whole gzip stream, though its name ends in .gz";
  }
}

/** The message for a reader that crashed on the file: the same bytes would crash it again. */
export const crashedOnContent = "The reader crashed on this file's content; a file like this cannot be previewed";

/** The message once every attempt failed for reasons that were not the file's (the reader crashed, storage or the database failed). */
export const gaveUp = (attempts: number) =>
  `The preview could not be made: ${attempts} ${attempts === 1 ? "attempt" : "attempts"} failed for reasons other than the file's content (the server's log says which)`;

function formatBytes(bytes: number): string {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
