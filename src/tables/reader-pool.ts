import { type ChildProcess, fork } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";

/** The child that runs DuckDB (plain JavaScript, copied beside this module by the build). */
const READER = fileURLToPath(new URL("./query-reader.mjs", import.meta.url));

/**
 * A pool of long-lived table readers: at most `size` child processes, each with DuckDB under
 * its own memory limit, threads and spill directory, each holding one query at a time
 * (starting one costs about half a second: a process per query would cost that each time).
 * Readers start when first needed and stay. A query over `timeoutMs` gets `timeout` and its
 * reader is killed (DuckDB's own interruption may wait on a spill or a scan) and replaced; a
 * reader that dies gets `crashed` for its query and is replaced. Queries wait their turn in
 * order when every reader is busy. Nothing of a reader's work runs on the API's event loop.
 */

export interface PoolOptions {
  size: number;
  memoryLimitBytes: number;
  threads: number;
  timeoutMs: number;
  /** Where readers spill (each its own directory below). */
  temporaryDirectory: string;
  /** The only directories DuckDB may read: where the tables' copies are. */
  allowedDirectories: string[];
  maxValueChars: number;
  logger: Logger;
}

/** One query: the copy's path and the compiled parts (query.ts). */
export interface PoolQuery {
  path: string;
  select: string[];
  where: string;
  orderBy: string[];
  params: string[];
  limit: number;
  offset: number;
  /** Whether to count the matching rows (false: the caller knows the total already). */
  count: boolean;
}

export type PoolAnswer =
  /** `total` is null when the query did not count. */
  | { kind: "rows"; rows: unknown[][]; total: number | null }
  /** DuckDB's own text: for the log only. */
  | { kind: "failed"; engineMessage: string }
  | { kind: "timeout" }
  | { kind: "crashed" };

type ChildAnswer = { id: number; ok: true; rows: unknown[][]; total: number | null } | { id: number; ok: false; message: string };

interface Reader {
  child: ChildProcess;
  /** Its own spill directory: DuckDB names its temporary files alike in every process. */
  directory: string;
  /** Settles once DuckDB is open in it (or it died): a query's time limit starts then, not with the process. */
  ready: Promise<void>;
  busy: boolean;
  current?: { id: number; settle(answer: PoolAnswer): void };
}

export class ReaderPool {
  private readonly readers = new Set<Reader>();
  private readonly waiting: Array<(reader: Reader | null) => void> = [];
  private started = 0;
  private nextId = 1;
  private closed = false;
  /** Queries sent to a reader and not answered yet (a gauge for operators; tests wait on it). */
  running = 0;

  constructor(private readonly options: PoolOptions) {}

  /** The process ids of the readers running now (for operators and tests). */
  pids(): number[] {
    return [...this.readers].flatMap((reader) => (reader.child.pid === undefined ? [] : [reader.child.pid]));
  }

  async run(query: PoolQuery): Promise<PoolAnswer> {
    if (this.closed) return { kind: "crashed" };
    const reader = await this.take();
    if (!reader) return { kind: "crashed" };
    this.running += 1;
    try {
      await reader.ready;
      if (!this.readers.has(reader)) return { kind: "crashed" };
      return await new Promise<PoolAnswer>((resolve) => {
        const id = this.nextId++;
        const timer = setTimeout(() => {
          this.options.logger.warn(
            { pid: reader.child.pid, timeoutMs: this.options.timeoutMs },
            "table reader: a query took too long; its reader is replaced",
          );
          settle({ kind: "timeout" });
          this.retire(reader);
        }, this.options.timeoutMs);
        const settle = (answer: PoolAnswer) => {
          if (reader.current?.id !== id) return;
          clearTimeout(timer);
          reader.current = undefined;
          resolve(answer);
        };
        reader.current = { id, settle };
        reader.child.send({ id, ...query }, (error) => {
          if (error) {
            settle({ kind: "crashed" });
            this.retire(reader);
          }
        });
      });
    } finally {
      this.running -= 1;
      this.release(reader);
    }
  }

  /** Stops every reader; queries in hand end as `crashed`. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter(null);
    for (const reader of [...this.readers]) this.retire(reader);
  }

  private take(): Promise<Reader | null> {
    for (const reader of this.readers) {
      if (!reader.busy) {
        reader.busy = true;
        return Promise.resolve(reader);
      }
    }
    if (this.readers.size < this.options.size) {
      const reader = this.start();
      reader.busy = true;
      return Promise.resolve(reader);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** A reader is free again (or gone): the next waiting query gets it, or a new one in its place. */
  private release(reader: Reader): void {
    reader.busy = false;
    const next = this.waiting.shift();
    if (!next) return;
    if (this.readers.has(reader)) {
      reader.busy = true;
      next(reader);
      return;
    }
    const fresh = this.closed ? undefined : this.start();
    if (!fresh) return;
    fresh.busy = true;
    next(fresh);
  }

  private start(): Reader {
    const { memoryLimitBytes, threads, allowedDirectories, maxValueChars } = this.options;
    const temporaryDirectory = join(this.options.temporaryDirectory, `reader-${process.pid}-${++this.started}`);
    mkdirSync(temporaryDirectory, { recursive: true });
    const child = fork(READER, [JSON.stringify({ memoryLimitBytes, threads, temporaryDirectory, allowedDirectories, maxValueChars })], {
      // Plain Node (no TypeScript loader inherited from a dev or test run); the JS heap holds
      // one page of rows at a time.
      execArgv: ["--max-old-space-size=256"],
      serialization: "json",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: { PATH: process.env.PATH ?? "", TMPDIR: temporaryDirectory },
    });
    let opened!: () => void;
    const reader: Reader = { child, directory: temporaryDirectory, busy: false, ready: new Promise<void>((resolve) => (opened = resolve)) };
    this.readers.add(reader);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString("utf8").slice(0, 4096 - stderr.length);
    });
    child.on("message", (answer: ChildAnswer | { ready: true }) => {
      if ("ready" in answer) return opened();
      if (reader.current?.id !== answer.id) return;
      reader.current.settle(answer.ok ? { kind: "rows", rows: answer.rows, total: answer.total } : { kind: "failed", engineMessage: answer.message });
    });
    child.on("error", () => {
      opened();
      this.retire(reader);
    });
    child.on("exit", (code, signal) => {
      opened();
      if (reader.current && !this.closed) {
        this.options.logger.warn(
          { pid: child.pid, code, signal, stderr: stderr.trim() || undefined },
          "table reader: died with a query in hand; it is replaced",
        );
      }
      this.retire(reader);
    });
    return reader;
  }

  /** Kills a reader and forgets it; its query, if any, ends as `crashed` (unless settled already). */
  private retire(reader: Reader): void {
    if (!this.readers.delete(reader)) {
      reader.current?.settle({ kind: "crashed" });
      return;
    }
    reader.current?.settle({ kind: "crashed" });
    if (reader.child.exitCode === null && reader.child.signalCode === null) reader.child.kill("SIGKILL");
    // What it spilled is nobody's now (a killed process may still hold the files open: removal unlinks them).
    rmSync(reader.directory, { recursive: true, force: true });
    // A query waiting for a reader gets a fresh one in this one's place.
    if (!reader.busy) this.release(reader);
  }
}
