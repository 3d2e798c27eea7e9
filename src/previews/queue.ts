import type { JobQueue, QueueDeclaration } from "../jobs/queue.js";
import type { Transaction } from "../db/database.js";
import type { ReadAs } from "./formats.js";

/**
 * The queues of profiling jobs, on the job queue of `src/jobs/queue.ts` (pg-boss). A taken
 * job whose lease runs out is failed by maintenance and retried; after the last attempt it
 * moves to the give-up queue, whose worker marks the preview FAILED.
 *
 * Two lanes, so that a few large files never hold up everyone's small ones: small
 * uncompressed text tables go to SMALL_QUEUE, which workers of their own serve
 * (PREVIEW_SMALL_WORKERS); everything else to PROFILE_QUEUE. Within a lane, pg-boss takes the
 * highest priority first: a job's priority is set at enqueue from how many previews its user
 * has queued already (src/previews/store.ts), so each user's next job goes before anyone's
 * second.
 */

export const PROFILE_QUEUE = "file-preview";
/** The lane of small files (see `isSmall`). */
export const SMALL_QUEUE = "file-preview-small";
/** Where jobs go once every attempt failed (pg-boss's dead letter). */
export const GIVE_UP_QUEUE = "file-preview-gave-up";

/** Attempts of one job: the first and this many retries. */
export const RETRY_LIMIT = 2;
/** Seconds before the first retry; pg-boss doubles it (with jitter) for each next one. */
const RETRY_DELAY_SECONDS = 2;

/**
 * The job's data: which profile to make. Jobs queued before migration 012 name the content
 * alone (no `datasetId`): the worker splits such a job into one per dataset.
 */
export interface ProfileJob extends ReadAs {
  datasetId?: string;
  sha256: string;
}

/** A job to enqueue: its data, its lane and its place among the lane's jobs (higher first). */
export interface QueuedJob {
  data: ProfileJob & { datasetId: string };
  small: boolean;
  priority: number;
}

/**
 * Whether content goes to the small lane: uncompressed text (CSV, TSV, JSON, JSON Lines) of
 * at most `smallFileBytes`, whose read is bounded by its size. Compressed bytes (a .gz, and
 * Parquet, which compresses inside) may expand far beyond their size: never small.
 */
export function isSmall(readAs: ReadAs, size: number, smallFileBytes: number): boolean {
  return readAs.compression === "none" && readAs.format !== "parquet" && size <= smallFileBytes;
}

/** The three queues and their retry policy; `leaseSeconds` is how long a taken job stays another worker's. */
export function previewQueues(leaseSeconds: number): QueueDeclaration[] {
  const lane = (name: string): QueueDeclaration => ({
    name,
    retry: { limit: RETRY_LIMIT, delaySeconds: RETRY_DELAY_SECONDS, backoff: true },
    leaseSeconds,
    deadLetter: GIVE_UP_QUEUE,
  });
  // The dead letter first: the lanes name it.
  return [{ name: GIVE_UP_QUEUE, retry: { limit: RETRY_LIMIT }, leaseSeconds }, lane(PROFILE_QUEUE), lane(SMALL_QUEUE)];
}

/** Jobs for these profiles, in the caller's transaction. */
export function enqueueProfiles(queue: JobQueue, tx: Transaction, jobs: readonly QueuedJob[]): Promise<void> {
  return queue.insert(
    tx,
    jobs.map((job) => ({ queue: job.small ? SMALL_QUEUE : PROFILE_QUEUE, data: job.data, priority: job.priority })),
  );
}
