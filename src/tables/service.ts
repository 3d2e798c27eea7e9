import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import type { TablesConfig } from "../config/config.js";
import { rateLimited } from "../common/errors.js";
import type { RowFilter, RowOrder } from "../generated/graphql.js";
import type { PreviewTable } from "../previews/rows.js";
import type { BlobStore } from "../storage/blob-store.js";
import { parseStorageUrl } from "../storage/open.js";
import { decodeCursor, encodeCursor } from "./cursor.js";
import { queryTooExpensive, tableUnavailable } from "./errors.js";
import { LocalCopies } from "./local-copies.js";
import { PageCache } from "./page-cache.js";
import { type CompiledQuery, compileQuery } from "./query.js";
import { ReaderPool } from "./reader-pool.js";
import { queryColumn } from "./values.js";

/** A text value longer than this is cut there in a page of rows and ends with "…" (as in previews). */
export const MAX_ROW_VALUE_CHARS = 1000;
/** A page reads this many pages after it as well, for `after` (page-cache.ts)… */
const READ_AHEAD_PAGES = 4;
/** …within this many rows in all (query-reader.mjs reads pages of up to this many rows cheaply). */
const MAX_QUERY_ROWS = 1000;
/** What the kept rows may take of an instance's memory, about. */
const PAGE_CACHE_BYTES = 32 * 2 ** 20;

export interface RowArgs {
  first: number;
  after?: string | null;
  where?: RowFilter | null;
  orderBy?: readonly RowOrder[] | null;
  columns?: readonly string[] | null;
}

export interface RowPage {
  nodes: unknown[][];
  columns: string[];
  totalCount: number;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** Row queries of explored tables: checked and compiled here, run in the reader pool. */
export interface Tables {
  /** A page of `table`'s rows for `userId`; a client's mistake is BAD_USER_INPUT before anything runs. */
  rows(userId: string, table: PreviewTable, args: RowArgs): Promise<RowPage>;
  /** The local copies (the sweep removes one with its copy). */
  readonly copies: LocalCopies;
  /** The readers' process ids now (tests, operators). */
  readerPids(): number[];
  /** Queries in a reader now. */
  running(): number;
  close(): Promise<void>;
}

/** The page of `rows` (the result's rows from `offset` on) out of `total`. */
function pageOf(query: CompiledQuery, offset: number, rows: unknown[][], total: number): RowPage {
  return {
    nodes: rows,
    columns: query.names,
    totalCount: total,
    pageInfo: {
      hasPreviousPage: offset > 0,
      hasNextPage: offset + rows.length < total,
      // A row's cursor is how many rows of the result come up to it and with it: `after` it, the next.
      startCursor: rows.length > 0 ? encodeCursor(query.hash, offset + 1) : null,
      endCursor: rows.length > 0 ? encodeCursor(query.hash, offset + rows.length) : null,
    },
  };
}

export function createTables(config: TablesConfig, storageUrl: string, store: BlobStore, logger: Logger, registry?: Registry): Tables {
  const copiesDirectory = join(config.cacheDir, "copies");
  const spillDirectory = join(config.cacheDir, "spill");
  // What an earlier run of this instance left: copies it fetched (some since removed from storage), spills.
  rmSync(copiesDirectory, { recursive: true, force: true });
  rmSync(spillDirectory, { recursive: true, force: true });
  const location = parseStorageUrl(storageUrl);
  const copies = new LocalCopies(store, copiesDirectory);
  const pool = new ReaderPool({
    size: config.readers,
    memoryLimitBytes: config.memoryLimitBytes,
    threads: config.threads,
    timeoutMs: config.queryTimeoutMs,
    temporaryDirectory: spillDirectory,
    allowedDirectories: location.kind === "file" ? [location.root, copiesDirectory] : [copiesDirectory],
    maxValueChars: MAX_ROW_VALUE_CHARS,
    logger,
  });
  const inHand = new Map<string, number>();
  const kept = new PageCache(PAGE_CACHE_BYTES);
  new Gauge({
    name: "table_queries_running",
    help: "Row queries in a table reader of this instance now",
    registers: registry ? [registry] : [],
    collect() {
      this.set(pool.running);
    },
  });
  new Gauge({
    name: "table_readers",
    help: "Table reader processes of this instance now",
    registers: registry ? [registry] : [],
    collect() {
      this.set(pool.pids().length);
    },
  });

  async function run(table: PreviewTable, args: RowArgs): Promise<RowPage> {
    const columns = table.profiles.map((profile, index) => queryColumn(profile.name, index, profile.storedType));
    const query = compileQuery(columns, args, table.tableKey);
    const offset = decodeCursor(args.after, query.hash);
    const ready = kept.page(query.hash, offset, args.first);
    if (ready) return pageOf(query, offset, ready.rows, ready.total);
    const knownTotal = kept.total(query.hash);
    const limit = Math.min(MAX_QUERY_ROWS, args.first * (1 + READ_AHEAD_PAGES));
    let path: string;
    try {
      path = await copies.path(table.tableKey);
    } catch (error) {
      logger.error({ err: error, sha256: table.sha256 }, "table: the columnar copy could not be read from storage");
      throw tableUnavailable();
    }
    const answer = await pool.run({
      path,
      select: query.select,
      where: query.where,
      orderBy: query.orderBy.split(", "),
      params: query.params,
      limit,
      offset,
      count: knownTotal === undefined,
    });
    switch (answer.kind) {
      case "timeout":
        throw queryTooExpensive("TABLE_QUERY_TIMEOUT");
      case "crashed":
        throw tableUnavailable();
      case "failed":
        logger.warn({ sha256: table.sha256, engineMessage: answer.engineMessage }, "table: a row query failed");
        if (/out of memory|memory limit/i.test(answer.engineMessage)) throw queryTooExpensive("TABLE_READER_MEMORY_LIMIT");
        throw tableUnavailable();
      case "rows": {
        const total = answer.total ?? knownTotal ?? 0;
        kept.keep(query.hash, total, offset, answer.rows);
        return pageOf(query, offset, answer.rows.slice(0, args.first), total);
      }
    }
  }

  return {
    copies,
    async rows(userId, table, args) {
      const held = inHand.get(userId) ?? 0;
      if (held >= config.perUser) {
        throw rateLimited(1, `At most ${config.perUser} row queries of one user run at once: wait for one to finish`);
      }
      inHand.set(userId, held + 1);
      try {
        return await run(table, args);
      } finally {
        const left = (inHand.get(userId) ?? 1) - 1;
        if (left === 0) inHand.delete(userId);
        else inHand.set(userId, left);
      }
    },
    readerPids: () => pool.pids(),
    running: () => pool.running,
    close: () => pool.close(),
  };
}
