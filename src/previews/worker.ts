import { notifyDatasetEvent } from "../events/bus.js";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type PgBoss from "pg-boss";
import type { Logger } from "pino";
import type { PreviewsConfig } from "../config.js";
import type { Database, Transaction } from "../db/database.js";
import type { PreviewMetrics } from "../metrics.js";
import type { BlobStore } from "../storage/blob-store.js";
import { describeEngineFailure, gaveUp, timedOut, tooLarge } from "./failures.js";
import { bossDb, GIVE_UP_QUEUE, PROFILE_QUEUE, type ProfileJob, type ProfileQueue, RETRY_LIMIT } from "./queue.js";
import { runReader, type FileColumnProfile, type ReaderLimits } from "./run-reader.js";
import * as sql from "./sql.js";

/**
 * The workers of one instance: PREVIEW_WORKERS loops, each taking one job at a time from the
 * queue (or from the give-up queue), profiling the content in a reader process of its own,
 * and storing the result, notifying, and completing the job in one transaction.
 */

/** How long an idle loop waits before asking the queue again (a commit here wakes it at once). */
const POLL_MS = 1000;
/** After the queue itself failed (the database away), how long before asking again. */
const BACKOFF_MS = 5000;

/** A profile's result, as stored. */
type Result = { status: "READY"; rowCount: number; columns: FileColumnProfile[]; rows: unknown[][] } | { status: "FAILED"; error: string };

/** Attempts a job gets in all (pg-boss's retry limit counts the retries). */
const ATTEMPTS_IN_ALL = RETRY_LIMIT + 1;

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
  queue: ProfileQueue;
  config: PreviewsConfig;
  metrics: PreviewMetrics;
  logger: Logger;
  /** The benchmark's window on each reader process. */
  onReaderStarted?: (pid: number) => void;
}

/** Stores `result` unless the preview is no longer PENDING; announces it when stored. */
async function storeResult(tx: Transaction, job: ProfileJob, result: Result): Promise<void> {
  const key = [job.sha256, job.format, job.compression];
  const stored =
    result.status === "READY"
      ? await tx.query(sql.SET_READY, [...key, result.rowCount, JSON.stringify(result.columns), JSON.stringify(result.rows)])
      : await tx.query(sql.SET_FAILED, [...key, result.error]);
  // Announced to live events with the content, not a dataset: the hub finds who holds it.
  if (stored.length > 0) await notifyDatasetEvent(tx, { type: "PREVIEW_READY", sha256: job.sha256 });
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

  /** Profiles one content; null when there is nothing to do (made already, or the content is gone). */
  async function profile(job: ProfileJob, signal: AbortSignal, deadline: number): Promise<Result | null> {
    const [attempt] = await database.query<{ size: number; attempts: number }>(sql.START_ATTEMPT, [job.sha256, job.format, job.compression]);
    if (!attempt) return null;
    if (attempt.size > config.maxBytes) return { status: "FAILED", error: tooLarge(attempt.size, config.maxBytes) };
    let local: { path: string; remove(): Promise<void> };
    try {
      local = await localCopy(job.sha256, AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, deadline - Date.now()))]));
    } catch (error) {
      if (Date.now() >= deadline) return { status: "FAILED", error: timedOut(config.timeoutSeconds) };
      throw new AttemptError("could not read the content from storage", { cause: error });
    }
    try {
      const limits: ReaderLimits = {
        memoryLimitBytes: config.memoryLimitBytes,
        threads: config.threads,
        timeoutMs: Math.max(1, deadline - Date.now()),
      };
      const outcome = await runReader(local.path, job, limits, parts.onReaderStarted, signal);
      if ("peakBytes" in outcome && outcome.peakBytes !== null) metrics.readerPeakBytes(outcome.peakBytes);
      switch (outcome.kind) {
        case "profile":
          return { status: "READY", rowCount: outcome.rowCount, columns: outcome.columns, rows: outcome.rows };
        case "unreadable":
          // The engine's own words stay in the log, for operators; the person gets ours.
          logger.info(
            { sha256: job.sha256, format: job.format, engineMessage: outcome.engineMessage },
            "preview: the file cannot be read as a table",
          );
          return { status: "FAILED", error: describeEngineFailure(outcome.engineMessage, job) };
        case "timeout":
          return { status: "FAILED", error: timedOut(config.timeoutSeconds) };
        case "stopped":
          throw new AttemptError("the server is stopping");
        case "crashed":
          throw new AttemptError(`the reader process ended without an answer (${outcome.detail})`);
      }
    } finally {
      await local.remove();
    }
  }

  async function settle(job: PgBoss.Job<ProfileJob>, result: Result | null): Promise<void> {
    await database.transaction(async (tx) => {
      if (result) await storeResult(tx, job.data, result);
      // pg-boss takes the connection as its fourth argument (its typings suggest a third: not so).
      await boss.complete(job.name, job.id, { status: result?.status ?? "ALREADY_DONE" }, { db: bossDb(tx) });
    });
  }

  async function runProfileJob(job: PgBoss.Job<ProfileJob>): Promise<void> {
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
  async function runGiveUpJob(job: PgBoss.Job<ProfileJob>): Promise<void> {
    await settle(job, { status: "FAILED", error: gaveUp(ATTEMPTS_IN_ALL) });
    logger.warn({ sha256: job.data.sha256, jobId: job.id }, "preview: every attempt failed; the preview is FAILED");
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      try {
        const [job] = await boss.fetch<ProfileJob>(PROFILE_QUEUE);
        if (job) {
          await runProfileJob(job);
          continue;
        }
        const [given] = await boss.fetch<ProfileJob>(GIVE_UP_QUEUE);
        if (given) {
          await runGiveUpJob(given);
          continue;
        }
        await sleep(POLL_MS);
      } catch (error) {
        if (stopping) return;
        logger.warn({ err: error }, "preview: the job queue could not be read; trying again shortly");
        await sleep(BACKOFF_MS);
      }
    }
  }

  const loops = Array.from({ length: config.workers }, () => loop());
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
