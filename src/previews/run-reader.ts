import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ReadAs } from "./formats.js";

/** The child that runs DuckDB (plain JavaScript, copied beside this module by the build). */
const READER = fileURLToPath(new URL("./reader.mjs", import.meta.url));

/** At most this many first rows are kept (docs/api.md: `rows(first:)` at most 100). */
export const MAX_PREVIEW_ROWS = 100;
/** A string value longer than this many characters is cut there and ends with "…". */
export const MAX_VALUE_CHARS = 1000;
/** The kept rows' JSON stays under about this many bytes: wide tables keep fewer rows. */
export const MAX_ROWS_BYTES = 1024 * 1024;
/**
 * JSON nested deeper than this (arrays and objects, the outer array of a .json file counted)
 * is refused before DuckDB sees it: its reader recurses per level, taking seconds at 1,000 and
 * dying of a native stack overflow some thousands deep. Real tables nest a few levels.
 */
export const MAX_JSON_DEPTH = 100;

/** What the reader refused to give DuckDB (reader.mjs `scan`). */
export type Refusal = "expanded" | "nesting" | "gzip";

/** What one profile may use. */
export interface ReaderLimits {
  /** DuckDB's memory_limit. */
  memoryLimitBytes: number;
  /** DuckDB's threads. */
  threads: number;
  /** The child is killed after this long. */
  timeoutMs: number;
  /** A gzip stream is refused once it expands beyond this. */
  maxExpandedBytes: number;
}

export interface FileColumnProfile {
  name: string;
  type: string;
  nullCount: number;
}

/** A column's profile as stored (column-stats.mjs): the API's `ColumnProfile`, and the type of the column in the columnar copy. */
export interface StoredColumnProfile extends FileColumnProfile {
  /** The column's type in the Parquet copy, which row queries compare values with (HUGEINT is stored as DOUBLE, say). */
  storedType: string;
  distinctCount: number | null;
  min: unknown;
  max: unknown;
  mean: number | null;
  stddev: number | null;
  histogram: { from: unknown; to: unknown; count: number }[] | null;
  topValues: { value: unknown; count: number }[] | null;
}

/** How a read ended. `unreadable` carries DuckDB's own text, for the log and for `describeFailure` only. */
export type ReaderOutcome =
  | {
      kind: "profile";
      rowCount: number;
      columns: FileColumnProfile[];
      rows: unknown[][];
      /** With a `tablePath`, the column profiles, once the copy is written there; null when there was none to write (no columns). */
      profiles: StoredColumnProfile[] | null;
      peakBytes: number | null;
    }
  | { kind: "unreadable"; engineMessage: string; peakBytes: number | null }
  /** The bytes were refused before DuckDB read them. */
  | { kind: "refused"; refusal: Refusal; peakBytes: number | null }
  | { kind: "timeout" }
  /** `signal` aborted it (the server is stopping). */
  | { kind: "stopped" }
  /** The child ended without an answer: killed from outside (the kernel's OOM killer), or crashed; `signal` the one that ended it. */
  | { kind: "crashed"; detail: string; signal: NodeJS.Signals | null };

type ChildAnswer =
  | { ok: true; rowCount: number; columns: FileColumnProfile[]; rows: unknown[][]; profiles: StoredColumnProfile[] | null; peakBytes: number | null }
  | { ok: false; message: string; peakBytes: number | null }
  | { ok: false; refused: Refusal; peakBytes: number | null };

/** Bytes of the child's stderr kept for the log. */
const STDERR_KEPT = 4096;

/**
 * Profiles the local file at `path` in a child process of its own: DuckDB with `limits`, the
 * child killed (SIGKILL) when `limits.timeoutMs` passes. A hostile file can cost that child
 * its life, never this process. `onStarted` gets the child's pid (the benchmark watches it); `signal` kills it early.
 * With `tablePath` (a path in a directory of the caller's), the table's columnar copy is
 * written there and the column profiles are made from it.
 */
export async function runReader(
  path: string,
  readAs: ReadAs,
  limits: ReaderLimits,
  onStarted?: (pid: number) => void,
  signal?: AbortSignal,
  tablePath?: string,
): Promise<ReaderOutcome> {
  const temporaryDirectory = await mkdtemp(join(tmpdir(), "preview-"));
  try {
    return await new Promise<ReaderOutcome>((resolve) => {
      const child = fork(READER, [], {
        // Plain Node (no TypeScript loader inherited from a dev or test run); the JS heap
        // holds only the answer, so a small one will do.
        execArgv: ["--max-old-space-size=256"],
        serialization: "json",
        stdio: ["ignore", "ignore", "pipe", "ipc"],
        env: { PATH: process.env.PATH ?? "", TMPDIR: temporaryDirectory },
      });
      let settled = false;
      let stderr = "";
      const settle = (outcome: ReaderOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", stop);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        resolve(outcome);
      };
      const timer = setTimeout(() => settle({ kind: "timeout" }), limits.timeoutMs);
      const stop = () => settle({ kind: "stopped" });
      if (signal?.aborted) stop();
      signal?.addEventListener("abort", stop);
      child.stderr?.on("data", (chunk: Buffer) => {
        if (stderr.length < STDERR_KEPT) stderr += chunk.toString("utf8").slice(0, STDERR_KEPT - stderr.length);
      });
      child.on("message", (answer: ChildAnswer) => {
        settle(
          answer.ok
            ? {
                kind: "profile",
                rowCount: answer.rowCount,
                columns: answer.columns,
                rows: answer.rows,
                profiles: answer.profiles,
                peakBytes: answer.peakBytes,
              }
            : "refused" in answer
              ? { kind: "refused", refusal: answer.refused, peakBytes: answer.peakBytes }
              : { kind: "unreadable", engineMessage: answer.message, peakBytes: answer.peakBytes },
        );
      });
      child.on("error", (error) => settle({ kind: "crashed", detail: error.message, signal: null }));
      child.on("exit", (code, signal) =>
        settle({ kind: "crashed", detail: `exited ${signal ?? code}${stderr ? `: ${stderr.trim()}` : ""}`, signal }),
      );
      if (child.pid !== undefined) onStarted?.(child.pid);
      child.send({
        path,
        format: readAs.format,
        compression: readAs.compression,
        memoryLimitBytes: limits.memoryLimitBytes,
        threads: limits.threads,
        temporaryDirectory,
        maxRows: MAX_PREVIEW_ROWS,
        maxValueChars: MAX_VALUE_CHARS,
        maxRowsBytes: MAX_ROWS_BYTES,
        maxExpandedBytes: limits.maxExpandedBytes,
        maxJsonDepth: MAX_JSON_DEPTH,
        tablePath,
      });
    });
  } finally {
    await rm(temporaryDirectory, { recursive: true, force: true });
  }
}
