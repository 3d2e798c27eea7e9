/**
 * The previews part (issue 14): a generated CSV (10 columns of mixed types) and a Parquet file
 * of the same rows, each uploaded, committed and profiled through the job path of a real
 * server (production, one worker), timed from the commit's answer to READY; beside the floor,
 * DuckDB in this process reading every value of the same file once (the profile's own scan:
 * count(*) and count(column) of each column) with the same threads and memory limit, in the
 * same run. Also the reader process's peak memory (its VmHWM, from the server's metrics) and
 * `me` at a steady rate while a profile runs.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { graphql, uploadFile } from "../harness/client.js";
import { fmt, fmtBytes } from "../harness/format.js";
import { GENERATED_COLUMNS, generateCsv } from "../harness/generated-csv.js";
import { log, temporaryDirectory } from "../harness/lifecycle.js";
import { type LoadResult, runLoad, startLoad } from "../harness/load.js";
import type { BenchOptions } from "../harness/options.js";
import { startApiServer } from "../harness/processes.js";
import { meRequests } from "../harness/requests.js";
import type { BenchRun } from "../harness/run.js";

export interface ProfileResult {
  format: "csv" | "parquet";
  bytes: number;
  rowCount: number;
  /** Commit answered → READY seen (polled every 50 ms). */
  seconds: number;
  mbPerSecond: number;
  /** DuckDB in the benchmark's process, the same scan, same limits. */
  floorSeconds: number;
  floorMbPerSecond: number;
  ratioToFloor: number;
  /** The reader process's VmHWM. */
  readerPeakMiB: number | null;
  meDuring: LoadResult;
}

export interface PreviewsResult {
  settings: Record<string, string | number>;
  meAlone: LoadResult;
  profiles: ProfileResult[];
}

const COLUMNS = GENERATED_COLUMNS;
const METRICS_TOKEN = "bench-previews-metrics-token-0123456789";

/** DuckDB here, reading every value once: the floor of a profile. */
async function floorScan(path: string, format: "csv" | "parquet", options: BenchOptions): Promise<number> {
  const instance = await DuckDBInstance.create(":memory:", {
    threads: String(options.previews.threads),
    memory_limit: `${Math.floor(options.previews.memoryLimitBytes / 2 ** 20)}MiB`,
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
  });
  const connection = await instance.connect();
  try {
    const source = format === "csv" ? `read_csv('${path}')` : `read_parquet('${path}')`;
    const names = (await connection.runAndReadAll(`describe select * from ${source}`)).getRowObjectsJson().map((row) => String(row.column_name));
    const started = performance.now();
    await connection.runAndReadAll(`select count(*), ${names.map((name) => `count("${name}")`).join(", ")} from ${source}`);
    return (performance.now() - started) / 1000;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function toParquet(csv: string, parquet: string): Promise<void> {
  const instance = await DuckDBInstance.create(":memory:", { autoinstall_known_extensions: "false", autoload_known_extensions: "false" });
  const connection = await instance.connect();
  try {
    await connection.run(`copy (select * from read_csv('${csv}')) to '${parquet}' (format parquet)`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The reader's peak memory so far, summed over jobs (the histogram's _sum), from /metrics. */
async function readerPeakSum(origin: string): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  return Number(/^preview_reader_peak_memory_bytes_sum (\S+)$/m.exec(text)?.[1] ?? 0);
}

const PREVIEW = `query($id: ID!) { dataset(id: $id) { latestVersion { files { path preview { status rowCount error } } } } }`;

export async function measurePreviews(run: BenchRun): Promise<PreviewsResult> {
  const { options } = run;
  const sizes = options.previews;
  const directory = await temporaryDirectory("bench-previews-");
  log(
    `\n== Previews: a ${fmtBytes(sizes.csvBytes)} CSV (${COLUMNS} columns) and its Parquet, profiled through the job path, beside DuckDB's own scan`,
  );
  const csv = join(directory, "table.csv");
  const parquet = join(directory, "table.parquet");
  const rows = await generateCsv(csv, sizes.csvBytes);
  await toParquet(csv, parquet);
  const files = [
    { format: "csv" as const, path: csv, bytes: (await stat(csv)).size },
    { format: "parquet" as const, path: parquet, bytes: (await stat(parquet)).size },
  ];
  log(`  generated ${fmt(rows)} rows: CSV ${fmtBytes(files[0]!.bytes)}, Parquet ${fmtBytes(files[1]!.bytes)}`);

  const server = await startApiServer({
    databaseUrl: run.database.url,
    jwtSecret: run.jwtSecret,
    bcryptCost: options.bcryptCost,
    environment: {
      DATA_DIR: join(directory, "server"),
      MAX_FILE_SIZE: String(2 * files[0]!.bytes),
      STORAGE_QUOTA: String(4 * files[0]!.bytes),
      PREVIEW_MAX_BYTES: String(2 * files[0]!.bytes),
      PREVIEW_THREADS: String(sizes.threads),
      PREVIEW_MEMORY_LIMIT: String(sizes.memoryLimitBytes),
      PREVIEW_TIMEOUT: "3600",
      PREVIEW_WORKERS: "1",
      METRICS_TOKEN,
    },
  });
  const owner = run.fixtures.writers[0]!;
  const watch = { serverPid: server.pid, postgresPids: run.database.backendPids };
  const me = { origin: server.origin, watch, requests: meRequests(run.fixtures), connections: sizes.meConnections, overallRate: sizes.meRate };
  await run.settle();
  const meAlone = await runLoad({ ...me, warmupSeconds: 1, seconds: 5 });
  log(`  me at ${sizes.meRate}/s alone: p50 ${fmt(meAlone.p50Ms, 1)} ms, p99 ${fmt(meAlone.p99Ms, 1)} ms`);

  const profiles: ProfileResult[] = [];
  for (const file of files) {
    const { createDataset } = await graphql<{ createDataset: { id: string } }>(
      server.origin,
      owner.token,
      `mutation($input: CreateDatasetInput!) { createDataset(input: $input) { id } }`,
      { input: { name: `Bench previews ${file.format}` } },
    );
    const { uploadId } = await uploadFile(server.origin, owner.token, createDataset.id, file.path, file.bytes, Number.POSITIVE_INFINITY);
    await run.settle();
    const peakBefore = await readerPeakSum(server.origin);
    const name = `table.${file.format}`;
    await graphql(server.origin, owner.token, `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number } }`, {
      input: { datasetId: createDataset.id, changes: [{ path: name, uploadId }] },
    });
    const started = performance.now();
    const load = startLoad({ ...me, warmupSeconds: 0, seconds: 3600 }, 3600);
    let preview: { status: string; rowCount: number | null; error: string | null };
    try {
      for (;;) {
        const answer = await graphql<{ dataset: { latestVersion: { files: Array<{ preview: typeof preview }> } } }>(
          server.origin,
          owner.token,
          PREVIEW,
          {
            id: createDataset.id,
          },
        );
        preview = answer.dataset.latestVersion.files[0]!.preview;
        if (preview.status !== "PENDING") break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      load.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    const meDuring = await load.done;
    if (preview.status !== "READY") throw new Error(`the ${file.format} preview is ${preview.status}: ${preview.error}`);
    const peak = (await readerPeakSum(server.origin)) - peakBefore;
    await run.settle();
    const floorSeconds = await floorScan(file.path, file.format, options);
    const result: ProfileResult = {
      format: file.format,
      bytes: file.bytes,
      rowCount: preview.rowCount ?? 0,
      seconds,
      mbPerSecond: file.bytes / 1e6 / seconds,
      floorSeconds,
      floorMbPerSecond: file.bytes / 1e6 / floorSeconds,
      ratioToFloor: seconds / floorSeconds,
      readerPeakMiB: peak > 0 ? peak / 2 ** 20 : null,
      meDuring,
    };
    profiles.push(result);
    log(
      `  ${file.format.padEnd(8)} ${fmtBytes(file.bytes).padStart(9)}  ${fmt(result.rowCount)} rows  job ${fmt(seconds, 2)} s (${fmt(result.mbPerSecond)} MB/s)  ` +
        `floor ${fmt(floorSeconds, 2)} s (${fmt(result.floorMbPerSecond)} MB/s)  ×${fmt(result.ratioToFloor, 2)}  reader peak ${fmt(result.readerPeakMiB ?? Number.NaN)} MiB  ` +
        `me p99 ${fmt(meDuring.p99Ms, 1)} ms (${fmt(meDuring.rps)} req/s)`,
    );
  }
  await server.stop();
  return {
    settings: {
      csv: `${fmtBytes(files[0]!.bytes)}, ${COLUMNS} columns (integers, text, doubles, booleans, dates, timestamps, nulls), ${fmt(rows)} rows`,
      parquet: `${fmtBytes(files[1]!.bytes)}, the same rows (DuckDB's COPY … (FORMAT parquet))`,
      limits: `PREVIEW_THREADS=${sizes.threads}, PREVIEW_MEMORY_LIMIT=${fmtBytes(sizes.memoryLimitBytes)}, one worker`,
      floor: "DuckDB (@duckdb/node-api) in the benchmark's process: select count(*), count(each column) from the file, same threads and memory limit",
      job: "commit answered → READY seen by polling every 50 ms (a reader process started, the sniff, the scan, the first rows, the result's transaction)",
      me: `${sizes.meRate} req/s over ${sizes.meConnections} connections while each profile runs`,
    },
    meAlone,
    profiles,
  };
}
