/**
 * The tables part (issue 23): a generated CSV of 200 MB (10 columns, some 2.4 million rows),
 * uploaded through tus, committed, and explored through `FileTable.rows` on a real server
 * (production, the product's default table settings):
 * - the job that converts it to its columnar copy and profiles every column, commit to a
 *   readable table, beside DuckDB's own `SUMMARIZE` of the same file in this process with the
 *   job's threads and memory limit, in the same run;
 * - first pages of filtered and sorted queries (each filter value new), one at a time;
 * - next pages through `after` cursors of some of them;
 * - `{ __typename }` at a steady rate, alone and then while several clients page through the
 *   table at once;
 * - the table readers' peak memory (VmHWM, from /proc) against TABLE_READER_MEMORY_LIMIT.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { graphql, uploadFile } from "../harness/client.js";
import { fmt, fmtBytes } from "../harness/format.js";
import { GENERATED_COLUMNS, generateCsv } from "../harness/generated-csv.js";
import { log, sleep, temporaryDirectory } from "../harness/lifecycle.js";
import { type LoadResult, runLoad } from "../harness/load.js";
import { startApiServer } from "../harness/processes.js";
import { graphqlRequest } from "../harness/requests.js";
import type { BenchRun } from "../harness/run.js";
import { fetchPage, type LatencySummary, latencySummary, type PagingResult, rowQuery, startPaging, type TableTarget } from "./queries.js";
import { type ReaderPeak, watchReaders } from "./reader-memory.js";

export interface TablesResult {
  settings: Record<string, string | number>;
  bytes: number;
  rowCount: number;
  /** Commit answered → the table readable (polled every 50 ms): the columnar copy and every column's profile, one job. */
  jobSeconds: number;
  /** DuckDB's `SUMMARIZE` of the same CSV in the benchmark's process, the job's threads and memory limit. */
  summarizeSeconds: number;
  /** The very first row query: it starts a reader. */
  coldFirstPageMs: number;
  firstPages: LatencySummary & { matchedMin: number; matchedMax: number };
  nextPages: LatencySummary;
  typenameAlone: LoadResult;
  typenameDuringPaging: LoadResult;
  paging: PagingResult;
  readerMemoryLimitMiB: number;
  readers: ReaderPeak[];
}

const TABLE_STATUS = `query($id: ID!) { dataset(id: $id) { latestVersion { files { preview { status error } table { rowCount } } } } }`;

type StatusData = {
  dataset: { latestVersion: { files: Array<{ preview: { status: string; error: string | null }; table: { rowCount: number } | null }> } };
};

/** Polls until the file's table is readable; its row count. */
async function waitForTable(origin: string, token: string, datasetId: string): Promise<number> {
  for (;;) {
    const data = await graphql<StatusData>(origin, token, TABLE_STATUS, { id: datasetId });
    const file = data.dataset.latestVersion.files[0]!;
    if (file.table) return file.table.rowCount;
    if (file.preview.status !== "PENDING") throw new Error(`the preview is ${file.preview.status} with no table: ${file.preview.error}`);
    await sleep(50);
  }
}

/** DuckDB's own SUMMARIZE of the CSV (every column's min, max, approximate distinct count, mean, deviation, quartiles, null share). */
async function summarizeSeconds(csv: string, threads: number, memoryLimitBytes: number): Promise<number> {
  const instance = await DuckDBInstance.create(":memory:", {
    threads: String(threads),
    memory_limit: `${Math.floor(memoryLimitBytes / 2 ** 20)}MiB`,
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
  });
  const connection = await instance.connect();
  try {
    const started = performance.now();
    await connection.runAndReadAll(`summarize select * from read_csv('${csv.replaceAll("'", "''")}')`);
    return (performance.now() - started) / 1000;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

export async function measureTables(run: BenchRun): Promise<TablesResult> {
  const { options } = run;
  const sizes = options.tables;
  const directory = await temporaryDirectory("bench-tables-");
  log(
    `\n== Tables: a ${fmt(sizes.csvBytes / 1e6)} MB CSV (${GENERATED_COLUMNS} columns) explored through FileTable.rows, beside DuckDB's own SUMMARIZE`,
  );
  const csv = join(directory, "table.csv");
  const rows = await generateCsv(csv, sizes.csvBytes);
  const bytes = (await stat(csv)).size;
  log(`  generated ${fmt(rows)} rows, ${fmt(bytes / 1e6)} MB`);

  const server = await startApiServer({
    databaseUrl: run.database.url,
    jwtSecret: run.jwtSecret,
    bcryptCost: options.bcryptCost,
    environment: {
      DATA_DIR: join(directory, "server"),
      MAX_FILE_SIZE: String(2 * bytes),
      STORAGE_QUOTA: String(4 * bytes),
      PREVIEW_MAX_BYTES: String(2 * bytes),
      PREVIEW_THREADS: String(sizes.previewThreads),
      PREVIEW_MEMORY_LIMIT: String(sizes.previewMemoryLimitBytes),
      PREVIEW_TIMEOUT: "3600",
      PREVIEW_WORKERS: "1",
      TABLE_READERS: String(sizes.readers),
      TABLE_READER_MEMORY_LIMIT: String(sizes.readerMemoryLimitBytes),
      TABLE_READER_THREADS: String(sizes.readerThreads),
    },
  });
  const readersWatch = watchReaders(server.pid);
  const owner = run.fixtures.writers[0]!;
  const explorers = run.fixtures.readers.slice(0, sizes.pagingClients);

  // The owner's dataset, shared with the explorers (one user each: a user has at most TABLE_QUERIES_PER_USER queries at once).
  const { createDataset } = await graphql<{ createDataset: { id: string } }>(
    server.origin,
    owner.token,
    `mutation($input: CreateDatasetInput!) { createDataset(input: $input) { id } }`,
    { input: { name: "Bench tables" } },
  );
  const datasetId = createDataset.id;
  for (const explorer of explorers) {
    const { me } = await graphql<{ me: { username: string } }>(server.origin, explorer.token, "{ me { username } }", {});
    await graphql(server.origin, owner.token, `mutation($d: ID!, $u: String!) { shareDataset(datasetId: $d, username: $u, role: VIEWER) { role } }`, {
      d: datasetId,
      u: me.username,
    });
  }
  const { uploadId } = await uploadFile(server.origin, owner.token, datasetId, csv, bytes, Number.POSITIVE_INFINITY);
  await run.settle();
  await graphql(server.origin, owner.token, `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number } }`, {
    input: { datasetId, changes: [{ path: "table.csv", uploadId }] },
  });
  const jobStarted = performance.now();
  const rowCount = await waitForTable(server.origin, owner.token, datasetId);
  const jobSeconds = (performance.now() - jobStarted) / 1000;
  log(`  conversion and profiles (one job, commit → table readable): ${fmt(jobSeconds, 2)} s, ${fmt(rowCount)} rows`);

  await run.settle();
  const summarize = await summarizeSeconds(csv, sizes.previewThreads, sizes.previewMemoryLimitBytes);
  log(
    `  DuckDB's own SUMMARIZE of the CSV, same threads and memory limit: ${fmt(summarize, 2)} s (job ÷ SUMMARIZE ×${fmt(jobSeconds / summarize, 2)})`,
  );

  const target: TableTarget = { origin: server.origin, datasetId, pageSize: sizes.pageSize };
  // Query numbers: 0 starts a reader (cold), 1… the measured first pages, then the paging clients' own.
  await run.settle();
  const cold = await fetchPage(target, owner.token, rowQuery(0), null);
  // The pool's other readers start too, outside the measurements.
  await Promise.all(explorers.slice(0, sizes.readers).map((explorer, index) => fetchPage(target, explorer.token, rowQuery(79_999 - index), null)));
  log(`  cold first page (a reader starts): ${fmt(cold.ms, 1)} ms`);

  await run.settle();
  const firstTimes: number[] = [];
  const matched: number[] = [];
  const cursors: Array<{ n: number; after: string | null }> = [];
  for (let n = 1; n <= sizes.firstPages; n += 1) {
    const page = await fetchPage(target, owner.token, rowQuery(n), null);
    firstTimes.push(page.ms);
    matched.push(page.totalCount);
    if (cursors.length < sizes.followedQueries && page.hasNextPage) cursors.push({ n, after: page.endCursor });
  }
  const firstPages = { ...latencySummary(firstTimes), matchedMin: Math.min(...matched), matchedMax: Math.max(...matched) };
  log(
    `  first pages (first: ${sizes.pageSize}), ${firstPages.count} queries of ${fmt(firstPages.matchedMin)} to ${fmt(firstPages.matchedMax)} matching rows: ` +
      `p50 ${fmt(firstPages.p50Ms, 1)} ms, p99 ${fmt(firstPages.p99Ms, 1)} ms`,
  );

  const nextTimes: number[] = [];
  for (const followed of cursors) {
    for (let index = 0; index < sizes.nextPagesEach && followed.after; index += 1) {
      const page = await fetchPage(target, owner.token, rowQuery(followed.n), followed.after);
      nextTimes.push(page.ms);
      followed.after = page.hasNextPage ? page.endCursor : null;
    }
  }
  const nextPages = latencySummary(nextTimes);
  log(`  next pages through after, ${nextPages.count} pages: p50 ${fmt(nextPages.p50Ms, 1)} ms, p99 ${fmt(nextPages.p99Ms, 1)} ms`);

  const typename = {
    origin: server.origin,
    requests: [graphqlRequest("typename", "{ __typename }")],
    connections: sizes.typenameConnections,
    overallRate: sizes.typenameRate,
    watch: { serverPid: server.pid, postgresPids: run.database.backendPids },
  };
  await run.settle();
  const typenameAlone = await runLoad({ ...typename, warmupSeconds: 1, seconds: sizes.typenameAloneSeconds });
  log(`  { __typename } at ${sizes.typenameRate}/s alone: p50 ${fmt(typenameAlone.p50Ms, 1)} ms, p99 ${fmt(typenameAlone.p99Ms, 1)} ms`);
  const paging = startPaging(
    target,
    explorers.map((explorer) => explorer.token),
    sizes.firstPages + 1,
    sizes.nextPagesEach,
  );
  const typenameDuringPaging = await runLoad({ ...typename, warmupSeconds: 1, seconds: sizes.pagingSeconds });
  const pagingResult = await paging.stop();
  log(
    `  { __typename } while ${pagingResult.clients} clients page through the table: p50 ${fmt(typenameDuringPaging.p50Ms, 1)} ms, p99 ${fmt(typenameDuringPaging.p99Ms, 1)} ms; ` +
      `their ${pagingResult.pages.count} pages p50 ${fmt(pagingResult.pages.p50Ms, 1)} ms, p99 ${fmt(pagingResult.pages.p99Ms, 1)} ms, ${pagingResult.errors} errors` +
      (pagingResult.firstError ? ` (first: ${pagingResult.firstError})` : ""),
  );

  const readers = readersWatch.stop();
  log(
    `  table readers' peak RSS: ${readers.map((reader) => `${fmt(reader.peakMiB)} MiB`).join(", ") || "none seen"} (limit ${fmtBytes(sizes.readerMemoryLimitBytes)})`,
  );
  await server.stop();
  return {
    settings: {
      csv: `${fmt(bytes / 1e6)} MB, ${GENERATED_COLUMNS} columns (integers, text, doubles, booleans, dates, timestamps, nulls), ${fmt(rows)} rows`,
      tables: `TABLE_READERS=${sizes.readers}, TABLE_READER_MEMORY_LIMIT=${fmtBytes(sizes.readerMemoryLimitBytes)}, TABLE_READER_THREADS=${sizes.readerThreads} (the defaults)`,
      job: `PREVIEW_THREADS=${sizes.previewThreads}, PREVIEW_MEMORY_LIMIT=${fmtBytes(sizes.previewMemoryLimitBytes)}, one worker; commit answered → table readable, polled every 50 ms`,
      summarize:
        "DuckDB (@duckdb/node-api) in the benchmark's process: SUMMARIZE SELECT * FROM read_csv(the same file), the job's threads and memory limit",
      queries: `rows(first: ${sizes.pageSize}, where: category = one of four and score ≥ a threshold new to each query, orderBy: amount DESC, at DESC or score ASC in turn), with totalCount and pageInfo`,
      pages: `${sizes.firstPages} first pages one at a time; then ${sizes.nextPagesEach} next pages through after of ${sizes.followedQueries} of them`,
      paging: `${sizes.pagingClients} clients (users of their own), each a first page and ${sizes.nextPagesEach} next pages of one query after another, for ${sizes.pagingSeconds} s`,
      typename: `{ __typename } at ${sizes.typenameRate} req/s over ${sizes.typenameConnections} connections, ${sizes.typenameAloneSeconds} s alone, then during the paging`,
    },
    bytes,
    rowCount,
    jobSeconds,
    summarizeSeconds: summarize,
    coldFirstPageMs: cold.ms,
    firstPages,
    nextPages,
    typenameAlone,
    typenameDuringPaging,
    paging: pagingResult,
    readerMemoryLimitMiB: sizes.readerMemoryLimitBytes / 2 ** 20,
    readers,
  };
}
