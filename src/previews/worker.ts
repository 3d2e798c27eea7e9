import { notifyDatasetEvent } from "../events/bus.js";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type PgBoss from "pg-boss";
import type { Logger } from "pino";
import type { PreviewsConfig } from "../config/config.js";
import type { Database, Transaction } from "../db/database.js";
import { bossDb, type JobQueue } from "../jobs/queue.js";
import type { PreviewMetrics } from "../observability/metrics.js";
import type { BlobStore } from "../storage/blob-store.js";
import { crashedOnContent, describeEngineFailure, gaveUp, refused, timedOut, tooLarge } from "./failures.js";
import { enqueueProfiles, GIVE_UP_QUEUE, isSmall, PROFILE_QUEUE, type ProfileJob, RETRY_LIMIT, SMALL_QUEUE } from "./queue.js";
import { runReader, type FileColumnProfile, type ReaderLimits, type StoredColumnProfile } from "./run-reader.js";
import * as sql from "./sql.js";

/**
 * The workers of one instance: PREVIEW_WORKERS loops, each taking one job at a time from the
 * queue of any file (else the small files' lane, else the give-up queue), and
 * PREVIEW_SMALL_WORKERS loops that take only small files (else the give-up queue); each
 * profiles one dataset's content in a reader process of its own, and stores the result,
 * notifies, and completes the job in one transaction.
 */

/** How long an idle loop waits before asking the queue again (a commit here wakes it at once). */
const POLL_MS = 1000;
/** After the queue itself failed (the database away), how long before asking again. */
const BACKOFF_MS = 5000;
/** A columnar copy stored by an attempt that never stored its profile is removed this long after its attempt's time limit (well past its lease). */
const LEASE_SECONDS_PAST_TIMEOUT = 600;

/** A profile's result, as stored; `table` is the columnar copy, stored already (null: the table has no columns). */
type Result =
  | {
      status: "READY";
      rowCount: number;
      columns: FileColumnProfile[];
      rows: unknown[][];
      table: { key: string; profiles: StoredColumnProfile[] } | null;
    }
  | { status: "FAILED"; error: string };

/** Attempts a job gets in all (pg-boss's retry limit counts the retries). */
const ATTEMPTS_IN_ALL = RETRY_LIMIT + 1;

/**
 * A reader killed by one of these crashed on its own (a native stack overflow, an abort): the
 * file's content did it, and would again. Killed from outside (SIGKILL: the kernel's OOM
 * killer) or ended otherwise is not the file's fault: retried.
 */
const CONTENT_CRASH_SIGNALS: ReadonlySet<string> = new Set(["SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT", "SIGTRAP"]);

/** A job's data once it names its dataset (every job queued since migration 012). */
type DatasetJob = ProfileJob & { datasetId: string };

/** An attempt that failed for a reason other than the file: the job is failed, and retried. */
class AttemptError extends Error {
  override name = "AttemptError";
}

export interface PreviewWorkers {
  /** A job was just enqueued here: idle loops look now rather than at their next poll. */
  wake(): void;
  /** Stops taking jobs and waits for those in hand (their readers killed: their jobs are retried). */
  stop(): Promise<void>;
}

export interface WorkerParts {
  database: Database;
  store: BlobStore;
  queue: JobQueue;
  config: PreviewsConfig;
  metrics: PreviewMetrics;
  logger: Logger;
  /** The benchmark's window on each reader process. */
  onReaderStarted?: (pid: number) => void;
}

/** Stores `result` unless the preview is no longer PENDING; announces it when stored. */
async function storeResult(tx: Transaction, job: DatasetJob, result: Result): Promise<void> {
  const key = [job.datasetId, job.sha256, job.format, job.compression];
  const [stored] =
    result.status === "READY"
      ? await tx.query<{ version: number | null }>(sql.SET_READY, [
          ...key,
          result.rowCount,
          JSON.stringify(result.columns),
          JSON.stringify(result.rows),
          result.table ? JSON.stringify(result.table.profiles) : null,
          result.table?.key ?? null,
        ])
      : await tx.query<{ version: number | null }>(sql.SET_FAILED, [...key, result.error]);
  // Announced to the one dataset's subscribers: another dataset holding the same bytes has a
  // profile of its own, made by a job of its own, and hears nothing of this one.
  if (stored?.version) {
    await notifyDatasetEvent(tx, { type: "PREVIEW_READY", datasetId: job.datasetId, version: stored.version, sha256: job.sha256 });
  }
}

export function startPreviewWorkers(parts: WorkerParts): PreviewWorkers {
  const { database, store, queue, config, metrics, logger } = parts;
  const boss: PgBoss = queue.boss;
  let stopping = false;
  const sleepers = new Set<() => void>();
  const inHand = new Set<AbortController>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      sleepers.add(done);
    });

  /** A local file holding the content: the store's own file, or a temporary copy streamed from it (S3). */
  async function localCopy(sha256: string, signal: AbortSignal): Promise<{ path: string; remove(): Promise<void> }> {
    const path = store.localPath?.(sha256);
    if (path) return { path, remove: async () => {} };
    const directory = await mkdtemp(join(tmpdir(), "preview-copy-"));
    const copy = join(directory, "content");
    try {
      await pipeline(await store.read(sha256), createWriteStream(copy), { signal });
    } catch (error) {
      await rm(directory, { recursive: true, force: true });
      throw error;
    }
    return { path: copy, remove: () => rm(directory, { recursive: true, force: true }) };
  }

  /** Profiles one dataset's content; null when there is nothing to do (made already, or the content is gone). */
  async function profile(job: DatasetJob, signal: AbortSignal, deadline: number): Promise<Result | null> {
    const [attempt] = await database.query<{ size: number; attempts: number }>(sql.START_ATTEMPT, [
      job.datasetId,
      job.sha256,
      job.format,
      job.compression,
    ]);
    if (!attempt) return null;
    if (attempt.size > config.maxBytes) return { status: "FAILED", error: tooLarge(attempt.size, config.maxBytes) };
    let local: { path: string; remove(): Promise<void> };
    try {
      local = await localCopy(job.sha256, AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, deadline - Date.now()))]));
    } catch (error) {
      if (Date.now() >= deadline) return { status: "FAILED", error: timedOut(config.timeoutSeconds) };
      throw new AttemptError("could not read the content from storage", { cause: error });
    }
    // The columnar copy is written here by the reader, then moved into storage.
    const copyDirectory = await mkdtemp(join(tmpdir(), "preview-table-"));
    const tablePath = join(copyDirectory, "table.parquet");
    try {
      const limits: ReaderLimits = {
        memoryLimitBytes: config.memoryLimitBytes,
        threads: config.threads,
        timeoutMs: Math.max(1, deadline - Date.now()),
        maxExpandedBytes: config.maxExpandedBytes,
      };
      const outcome = await runReader(local.path, job, limits, parts.onReaderStarted, signal, tablePath);
      if ("peakBytes" in outcome && outcome.peakBytes !== null) metrics.readerPeakBytes(outcome.peakBytes);
      switch (outcome.kind) {
        case "profile": {
          const table = outcome.profiles ? { key: await storeCopy(tablePath), profiles: outcome.profiles } : null;
          return { status: "READY", rowCount: outcome.rowCount, columns: outcome.columns, rows: outcome.rows, table };
        }
        case "unreadable":
          // The engine's own words stay in the log, for operators; the person gets ours.
          logger.info(
            { sha256: job.sha256, format: job.format, engineMessage: outcome.engineMessage },
            "preview: the file cannot be read as a table",
          );
          return { status: "FAILED", error: describeEngineFailure(outcome.engineMessage, job) };
        case "refused":
          return { status: "FAILED", error: refused(outcome.refusal, config.maxExpandedBytes) };
        case "timeout":
          return { status: "FAILED", error: timedOut(config.timeoutSeconds) };
        case "stopped":
          throw new AttemptError("the server is stopping");
        case "crashed":
          if (outcome.signal && CONTENT_CRASH_SIGNALS.has(outcome.signal)) {
            logger.warn({ sha256: job.sha256, format: job.format, detail: outcome.detail }, "preview: the reader crashed on the file's content");
            return { status: "FAILED", error: crashedOnContent };
          }
          throw new AttemptError(`the reader process ended without an answer (${outcome.detail})`);
      }
    } finally {
      await local.remove();
      await rm(copyDirectory, { recursive: true, force: true });
    }
  }

  /**
   * Moves the columnar copy into storage under an address of its own (random: never another
   * profile's, never reused) and returns it. The address is entered for removal first, due
   * once this attempt's lease is over: storing the profile READY takes it out again, and an
   * attempt that never gets there leaves nothing behind for good (src/tables/copies.ts).
   */
  async function storeCopy(path: string): Promise<string> {
    const key = randomBytes(32).toString("hex");
    try {
      await database.query(sql.ENTER_ORPHAN, [key, config.timeoutSeconds + LEASE_SECONDS_PAST_TIMEOUT]);
      await store.putFile(key, path, (await stat(path)).size);
    } catch (error) {
      throw new AttemptError("could not store the table's columnar copy", { cause: error });
    }
    return key;
  }

  async function settle(job: PgBoss.Job<DatasetJob>, result: Result | null): Promise<void> {
    await database.transaction(async (tx) => {
      if (result) await storeResult(tx, job.data, result);
      // pg-boss takes the connection as its fourth argument (its typings suggest a third: not so).
      await boss.complete(job.name, job.id, { status: result?.status ?? "ALREADY_DONE" }, { db: bossDb(tx) });
    });
  }

  /**
   * A job queued before migration 012 names the content alone: it becomes one job for each
   * dataset whose copy of that profile is still PENDING, queued in the transaction that
   * completes it. Each dataset's profile is then made on its own, like any other.
   */
  async function splitLegacyJob(job: PgBoss.Job<ProfileJob>): Promise<void> {
    const { sha256, format, compression } = job.data;
    await database.transaction(async (tx) => {
      const holders = await tx.query<{ datasetId: string; size: number }>(sql.LEGACY_PENDING, [sha256, format, compression]);
      await enqueueProfiles(
        queue,
        tx,
        holders.map((holder) => ({
          data: { datasetId: holder.datasetId, sha256, format, compression },
          small: isSmall(job.data, holder.size, config.smallFileBytes),
          priority: 0,
        })),
      );
      await boss.complete(job.name, job.id, { status: "SPLIT", datasets: holders.length }, { db: bossDb(tx) });
    });
    logger.info({ sha256, jobId: job.id }, "preview: a job queued before previews were per dataset was split into one per dataset");
  }

  async function runProfileJob(job: PgBoss.Job<DatasetJob>): Promise<void> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const controller = new AbortController();
    inHand.add(controller);
    metrics.running.inc();
    try {
      const result = await profile(job.data, controller.signal, Date.now() + config.timeoutSeconds * 1000);
      await settle(job, result);
      if (result) metrics.attemptDone(result.status === "READY" ? "ready" : "failed", seconds());
    } catch (error) {
      metrics.attemptDone("error", seconds());
      logger.warn(
        { err: error, sha256: job.data.sha256, jobId: job.id },
        "preview: an attempt failed; the job is retried (or given up after its last attempt)",
      );
      await boss.fail(job.name, job.id, { reason: error instanceof Error ? error.message : String(error) }).catch((failError: unknown) => {
        // The lease runs out instead, and maintenance fails it then.
        logger.warn({ err: failError, jobId: job.id }, "preview: could not fail the job");
      });
    } finally {
      metrics.running.dec();
      inHand.delete(controller);
    }
  }

  /** Every attempt failed: the preview says so, for good. */
  async function runGiveUpJob(job: PgBoss.Job<DatasetJob>): Promise<void> {
    await settle(job, { status: "FAILED", error: gaveUp(ATTEMPTS_IN_ALL) });
    logger.warn({ sha256: job.data.sha256, jobId: job.id }, "preview: every attempt failed; the preview is FAILED");
  }

  /** Runs the first job found in `queues` (in that order); false when all were empty. */
  async function runNext(queues: readonly string[]): Promise<boolean> {
    for (const name of queues) {
      const [job] = await boss.fetch<ProfileJob>(name);
      if (!job) continue;
      if (job.data.datasetId === undefined) await splitLegacyJob(job);
      else if (name === GIVE_UP_QUEUE) await runGiveUpJob(job as PgBoss.Job<DatasetJob>);
      else await runProfileJob(job as PgBoss.Job<DatasetJob>);
      return true;
    }
    return false;
  }

  async function loop(queues: readonly string[]): Promise<void> {
    while (!stopping) {
      try {
        if (await runNext(queues)) continue;
        await sleep(POLL_MS);
      } catch (error) {
        if (stopping) return;
        logger.warn({ err: error }, "preview: the job queue could not be read; trying again shortly");
        await sleep(BACKOFF_MS);
      }
    }
  }

  // A worker of any file takes large ones first: the small lane has workers of its own.
  const loops = [
    ...Array.from({ length: config.workers }, () => loop([PROFILE_QUEUE, SMALL_QUEUE, GIVE_UP_QUEUE])),
    ...Array.from({ length: config.smallWorkers }, () => loop([SMALL_QUEUE, GIVE_UP_QUEUE])),
  ];
  return {
    wake() {
      for (const wake of [...sleepers]) wake();
    },
    async stop() {
      stopping = true;
      for (const controller of inHand) controller.abort();
      for (const wake of [...sleepers]) wake();
      await Promise.all(loops);
    },
  };
}
