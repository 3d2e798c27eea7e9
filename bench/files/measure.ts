/**
 * The files part (issue 11): a large file uploaded through tus (in chunks, and in one
 * request), committed through GraphQL and downloaded, each beside the floor (the same bytes
 * piped from one local file to another in Node), with the server's RSS sampled every 100 ms;
 * then parallel uploads while `me` is asked at a steady rate.
 *
 * Its own server process (production, the filesystem store under a temporary DATA_DIR), so
 * its idle RSS is a fresh server's and nothing the API scenarios left behind.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { downloadToFile, graphql, type UploadTiming, uploadFile } from "../harness/client.js";
import { type CpuUse, cpuBetween, snapshot, type Watched } from "../harness/cpu.js";
import type { Actor } from "../harness/database.js";
import { fmt, fmtBytes } from "../harness/format.js";
import { log, temporaryDirectory } from "../harness/lifecycle.js";
import { type LoadResult, runLoad, startLoad } from "../harness/load.js";
import { type ChildServer, type RssSamples, sampleRss, startApiServer } from "../harness/processes.js";
import { meRequests } from "../harness/requests.js";
import type { BenchRun } from "../harness/run.js";
import { type FloorResult, generateFile, hashFile, mbPerSecond, measureFloor } from "./local-files.js";

const WARM_UP_BYTES = 64 * 2 ** 20;

/** What is measured around a transfer: the server's RSS and CPU meanwhile. */
interface Measured {
  label: string;
  mbPerSecond: number;
  rss: RssSamples & { growthMiB: number };
  cpu: CpuUse;
}

/** One measured transfer and its speed against the floor. */
export interface TransferResult extends Measured {
  bytes: number;
  requests: number;
  seconds: number;
  /** Of the faster of the two floors of the run. */
  ratioToFloor: number;
  /** Uploads: the last PATCH's answer after its last byte was read for sending (the server's finishing). */
  finishSeconds?: number;
  /** Downloads: to the response's headers. */
  firstByteSeconds?: number;
}

export interface ParallelResult {
  uploads: number;
  bytesEach: number;
  seconds: number;
  /** All the bytes over the wall time. */
  mbPerSecond: number;
  slowestSeconds: number;
  rss: RssSamples & { growthMiB: number };
  cpu: CpuUse;
  meRate: number;
  meConnections: number;
  /** `me` at the same rate with nothing else running, just before. */
  meAlone: LoadResult;
  meDuringUploads: LoadResult;
}

export interface FilesResult {
  settings: Record<string, string | number>;
  /** The server's RSS once started and warmed up (64 MiB up twice and down once). */
  serverIdleMiB: number;
  /** Before the transfers and after them; ratios are to the faster one. */
  floors: { before: FloorResult; after: FloorResult; bestMbPerSecond: number };
  uploads: TransferResult[];
  commitSeconds: number;
  download: TransferResult;
  parallel: ParallelResult;
  /** Every SHA-256 the server computed (and every download) matched the generated file's. */
  verified: boolean;
}

const COMMIT = `mutation Commit($input: CommitInput!) { commitDatasetVersion(input: $input) { number files { path size sha256 } } }`;
const CREATE_DATASET = `mutation Create($input: CreateDatasetInput!) { createDataset(input: $input) { id } }`;

interface Generated {
  path: string;
  size: number;
  sha256: string;
}

export async function measureFiles(run: BenchRun): Promise<FilesResult> {
  const { options, database, fixtures } = run;
  const sizes = options.files;
  const directory = await temporaryDirectory("bench-files-");
  log(
    `\n== Files: ${fmtBytes(sizes.bigFileBytes)} through tus (${fmtBytes(sizes.chunkBytes)} PATCHes, then one request), committed, downloaded; ` +
      `${sizes.parallelUploads} × ${fmtBytes(sizes.parallelFileBytes)} at once with me at ${sizes.meRate}/s (in ${directory})`,
  );
  const generateStarted = performance.now();
  const generate = async (name: string, size: number): Promise<Generated> => {
    const path = join(directory, name);
    return { path, size, sha256: await generateFile(path, size) };
  };
  const chunkedSource = await generate("big-chunked.bin", sizes.bigFileBytes);
  const singleSource = await generate("big-single.bin", sizes.bigFileBytes);
  const parallelSources: Generated[] = [];
  for (let index = 0; index < sizes.parallelUploads; index += 1)
    parallelSources.push(await generate(`parallel-${index}.bin`, sizes.parallelFileBytes));
  log(
    `  generated ${fmtBytes(2 * sizes.bigFileBytes + sizes.parallelUploads * sizes.parallelFileBytes)} of test files in ${fmt((performance.now() - generateStarted) / 1000, 1)} s`,
  );

  const server = await startApiServer({
    databaseUrl: database.url,
    jwtSecret: run.jwtSecret,
    bcryptCost: options.bcryptCost,
    environment: {
      DATA_DIR: join(directory, "server"),
      MAX_FILE_SIZE: String(sizes.bigFileBytes),
      // The bench user stores both large files.
      STORAGE_QUOTA: String(4 * sizes.bigFileBytes),
    },
  });
  const watch: Watched = { serverPid: server.pid, postgresPids: database.backendPids };
  const [owner, ...parallelOwners] = fixtures.writers;
  if (!owner || parallelOwners.length < sizes.parallelUploads) throw new Error(`the files part needs ${sizes.parallelUploads + 1} writers`);
  const datasetOf = async (actor: Actor, name: string) =>
    (await graphql<{ createDataset: { id: string } }>(server.origin, actor.token, CREATE_DATASET, { input: { name } })).createDataset.id;
  const datasetId = await datasetOf(owner, "Bench files");
  const parallelDatasets = await Promise.all(
    parallelOwners.slice(0, sizes.parallelUploads).map((actor, index) => datasetOf(actor, `Bench parallel ${index}`)),
  );
  await warmUp(server, owner, datasetId, directory);
  const serverIdleMiB = server.rssMiB();
  log(`  server pid ${server.pid} on ${server.origin}, RSS ${fmt(serverIdleMiB)} MiB after the warm-up transfers`);

  let verified = true;
  const check = (what: string, actual: string, expected: string) => {
    if (actual === expected) return;
    verified = false;
    log(`  !! ${what}: SHA-256 ${actual}, expected ${expected}`);
  };

  await run.settle();
  const before = await measureFloor(chunkedSource.path, sizes.bigFileBytes, directory);
  log(floorLine("floor before", before));

  const uploads: Array<UploadTiming & Measured & { uploadId: string }> = [];
  for (const [source, chunk, label] of [
    [chunkedSource, sizes.chunkBytes, `upload, ${fmtBytes(sizes.chunkBytes)} PATCHes`],
    [singleSource, Number.POSITIVE_INFINITY, "upload, one PATCH"],
  ] as const) {
    await run.settle();
    const upload = await transfer(server, watch, label, () => uploadFile(server.origin, owner.token, datasetId, source.path, source.size, chunk));
    uploads.push(upload);
    log(transferLine(upload));
  }

  const commitStarted = performance.now();
  const committed = await graphql<{ commitDatasetVersion: { number: number; files: Array<{ path: string; sha256: string }> } }>(
    server.origin,
    owner.token,
    COMMIT,
    {
      input: {
        datasetId,
        message: "bench",
        changes: [
          { path: "big-chunked.bin", uploadId: uploads[0]!.uploadId },
          { path: "big-single.bin", uploadId: uploads[1]!.uploadId },
        ],
      },
    },
  );
  const commitSeconds = (performance.now() - commitStarted) / 1000;
  const version = committed.commitDatasetVersion;
  for (const source of [chunkedSource, singleSource]) {
    const name = source.path.split("/").at(-1)!;
    check(`committed ${name}`, version.files.find((file) => file.path === name)?.sha256 ?? "(missing)", source.sha256);
  }
  log(`  committed version ${version.number} in ${fmt(commitSeconds * 1000, 1)} ms`);

  await run.settle();
  const downloaded = join(directory, "downloaded.bin");
  const download = await transfer(server, watch, "download", async () => {
    const timing = await downloadToFile(
      server.origin,
      owner.token,
      `/datasets/${datasetId}/versions/${version.number}/files/big-single.bin`,
      downloaded,
    );
    return { ...timing, requests: 1 };
  });
  log(transferLine(download));
  check("downloaded big-single.bin", await hashFile(downloaded), singleSource.sha256);
  if (download.bytes !== sizes.bigFileBytes) {
    verified = false;
    log(`  !! downloaded ${download.bytes} bytes, expected ${sizes.bigFileBytes}`);
  }
  await rm(downloaded, { force: true });

  await run.settle();
  const after = await measureFloor(chunkedSource.path, sizes.bigFileBytes, directory);
  log(floorLine("floor after", after));
  const bestMbPerSecond = Math.max(before.mbPerSecond, after.mbPerSecond);
  const withRatio = <T extends { mbPerSecond: number }>(result: T) => ({ ...result, ratioToFloor: result.mbPerSecond / bestMbPerSecond });

  await run.settle();
  const parallel = await measureParallel(run, server, watch, parallelSources, parallelOwners, parallelDatasets, check);
  await server.stop();

  return {
    settings: {
      bigFile: fmtBytes(sizes.bigFileBytes),
      chunk: fmtBytes(sizes.chunkBytes),
      parallel: `${sizes.parallelUploads} × ${fmtBytes(sizes.parallelFileBytes)}, one PATCH each, one user each`,
      me: `${sizes.meRate} req/s over ${sizes.meConnections} connections (autocannon overallRate)`,
      store: "filesystem (DATA_DIR in a temporary directory), NODE_ENV=production",
      client: "node:http, PATCH bodies streamed from the file (1 MiB reads), download streamed into a file and hashed afterwards",
      floor: "stream.pipeline(fs.createReadStream, fs.createWriteStream), default 64 KiB buffers, then fsync (timed apart)",
      rssSampling: "/proc/<pid>/status VmRSS every 100 ms",
    },
    serverIdleMiB,
    floors: { before, after, bestMbPerSecond },
    uploads: uploads.map(({ uploadId: _uploadId, ...upload }) => withRatio(upload)),
    commitSeconds,
    download: withRatio(download),
    parallel,
    verified,
  };
}

/**
 * `sizes.parallelUploads` uploads at once, each its own user's, one PATCH each, while `me` is
 * asked at a steady rate; `me` at that rate alone first, for comparison.
 */
async function measureParallel(
  run: BenchRun,
  server: ChildServer,
  watch: Watched,
  sources: Generated[],
  owners: Actor[],
  datasets: string[],
  check: (what: string, actual: string, expected: string) => void,
): Promise<ParallelResult> {
  const sizes = run.options.files;
  const me = { origin: server.origin, watch, requests: meRequests(run.fixtures), connections: sizes.meConnections, overallRate: sizes.meRate };
  const meAlone = await runLoad({ ...me, warmupSeconds: 1, seconds: sizes.meAloneSeconds });
  log(meLine(`me at ${sizes.meRate}/s alone`, meAlone));

  const rssSampler = sampleRss(server.pid);
  const cpuBefore = await snapshot(watch);
  const meLoad = startLoad({ ...me, warmupSeconds: 0, seconds: 3600 }, 3600);
  const started = performance.now();
  let timings: Array<UploadTiming & { uploadId: string; source: (typeof sources)[number]; index: number }>;
  try {
    timings = await Promise.all(
      sources.map(async (source, index) => {
        const timing = await uploadFile(server.origin, owners[index]!.token, datasets[index]!, source.path, source.size, Number.POSITIVE_INFINITY);
        return { ...timing, source, index };
      }),
    );
  } finally {
    meLoad.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const meDuringUploads = await meLoad.done;
  const cpu = cpuBetween(cpuBefore, await snapshot(watch));
  const rss = rssSampler.stop();

  for (const { uploadId, source, index } of timings) {
    const name = `parallel-${index}.bin`;
    const committed = await graphql<{ commitDatasetVersion: { files: Array<{ sha256: string }> } }>(server.origin, owners[index]!.token, COMMIT, {
      input: { datasetId: datasets[index], changes: [{ path: name, uploadId }] },
    });
    check(`committed ${name}`, committed.commitDatasetVersion.files[0]?.sha256 ?? "(missing)", source.sha256);
  }
  const bytes = sources.reduce((sum, source) => sum + source.size, 0);
  const result: ParallelResult = {
    uploads: sources.length,
    bytesEach: sizes.parallelFileBytes,
    seconds,
    mbPerSecond: mbPerSecond(bytes, seconds),
    slowestSeconds: Math.max(...timings.map((timing) => timing.seconds)),
    rss: { ...rss, growthMiB: rss.peakMiB - rss.beforeMiB },
    cpu,
    meRate: sizes.meRate,
    meConnections: sizes.meConnections,
    meAlone,
    meDuringUploads,
  };
  log(
    `  ${`${sources.length} parallel uploads`.padEnd(30)} ${fmt(seconds, 1).padStart(6)} s  ${fmt(result.mbPerSecond).padStart(5)} MB/s in all  ` +
      `RSS ${fmt(rss.beforeMiB)} → peak ${fmt(rss.peakMiB)} MiB (+${fmt(result.rss.growthMiB)})  CPU: server ${fmt(cpu.server)}%, other ${fmt(cpu.other)}%`,
  );
  log(meLine(`me at ${sizes.meRate}/s during them`, meDuringUploads));
  return result;
}

/** Runs `work` while sampling the server's RSS and accounting CPU. */
async function transfer<T extends { bytes: number; seconds: number; requests: number }>(
  server: ChildServer,
  watch: Watched,
  label: string,
  work: () => Promise<T>,
): Promise<T & Measured> {
  const cpuBefore = await snapshot(watch);
  const sampler = sampleRss(server.pid);
  const timing = await work().catch((error: unknown) => {
    sampler.stop();
    throw error;
  });
  const rss = sampler.stop();
  const cpu = cpuBetween(cpuBefore, await snapshot(watch));
  return { ...timing, label, mbPerSecond: mbPerSecond(timing.bytes, timing.seconds), rss: { ...rss, growthMiB: rss.peakMiB - rss.beforeMiB }, cpu };
}

/**
 * 64 MiB uploaded in PATCHes and again in one, committed, and downloaded, before anything is
 * measured: with less (8 MiB was tried), the first measured transfer cost the server a
 * quarter more CPU than the same one run second (V8 had not yet optimised the stream code).
 */
async function warmUp(server: ChildServer, owner: Actor, datasetId: string, directory: string): Promise<void> {
  const size = WARM_UP_BYTES;
  const changes = [];
  for (const [name, chunk] of [
    ["warm-up-chunked.bin", size / 4],
    ["warm-up-single.bin", Number.POSITIVE_INFINITY],
  ] as const) {
    const source = join(directory, name);
    await generateFile(source, size);
    const { uploadId } = await uploadFile(server.origin, owner.token, datasetId, source, size, chunk);
    changes.push({ path: name, uploadId });
    await rm(source);
  }
  await graphql(server.origin, owner.token, COMMIT, { input: { datasetId, changes } });
  const target = join(directory, "warm-up-downloaded.bin");
  await downloadToFile(server.origin, owner.token, `/datasets/${datasetId}/versions/latest/files/warm-up-single.bin`, target);
  await rm(target);
}

function floorLine(label: string, floor: FloorResult): string {
  return (
    `  ${label.padEnd(30)} ${fmt(floor.seconds, 2).padStart(6)} s  ${fmt(floor.mbPerSecond).padStart(5)} MB/s` +
    `  (with its fsync: ${fmt(floor.withFsyncSeconds, 2)} s, ${fmt(floor.withFsyncMbPerSecond)} MB/s)`
  );
}

function transferLine(result: Omit<TransferResult, "ratioToFloor">): string {
  const extra =
    result.finishSeconds !== undefined
      ? `, the last answer ${fmt(result.finishSeconds, 2)} s after the last byte`
      : result.firstByteSeconds !== undefined
        ? `, headers after ${fmt(result.firstByteSeconds * 1000, 1)} ms`
        : "";
  return (
    `  ${result.label.padEnd(30)} ${fmt(result.seconds, 2).padStart(6)} s  ${fmt(result.mbPerSecond).padStart(5)} MB/s  ` +
    `(${result.requests} request${result.requests === 1 ? "" : "s"}${extra})  ` +
    `RSS ${fmt(result.rss.beforeMiB)} → peak ${fmt(result.rss.peakMiB)} MiB (+${fmt(result.rss.growthMiB)})  ` +
    `CPU: server ${fmt(result.cpu.server)}%, PostgreSQL ${fmt(result.cpu.postgres)}%, bench ${fmt(result.cpu.loadGenerator)}%, other ${fmt(result.cpu.other)}%`
  );
}

function meLine(label: string, result: LoadResult): string {
  const problems = result.non2xx + result.graphqlErrors + result.connectionErrors;
  return (
    `  ${label.padEnd(30)} ${fmt(result.responses)} answers, ${fmt(result.rps)} req/s  p50 ${fmt(result.p50Ms, 1)} ms  p99 ${fmt(result.p99Ms, 1)} ms  max ${fmt(result.maxMs, 1)} ms` +
    `${problems ? `  !! ${problems} errors; first: ${result.firstError ?? "?"}` : ""}`
  );
}
