import { notifyDatasetEvent } from "../events/bus.js";
import type { JobDeclaration, JobQueue } from "../jobs/queue.js";
import { enqueueProfiles, previewQueues } from "./queue.js";
import type { PreviewParts, Previews } from "./service.js";
import * as sql from "./sql.js";
import { insertPending, settledContent } from "./store.js";
import { type PreviewWorkers, startPreviewWorkers } from "./worker.js";

/** Seconds a taken job stays its worker's beyond PREVIEW_TIMEOUT (the result's transaction, a slow database). */
const LEASE_GRACE_SECONDS = 5;

/** The profile job as declared to `src/jobs/`, and the previews service that queues it. */
export interface PreviewJob extends JobDeclaration {
  readonly previews: Previews;
}

/**
 * The profile job: its queues (two lanes and the give-up queue, `queue.ts`), their retry
 * policy, and its handler: this instance's workers (unless PREVIEW_WORKERS and
 * PREVIEW_SMALL_WORKERS are 0), started by `src/jobs/runner.ts` once the queue is.
 */
export function previewJob(parts: PreviewParts): PreviewJob {
  const { database, config, metrics, logger } = parts;
  let queue: JobQueue | undefined;
  let workers: PreviewWorkers | undefined;
  return {
    name: "previews",
    queues: previewQueues(config.timeoutSeconds + LEASE_GRACE_SECONDS),
    work(started) {
      queue = started;
      metrics.countQueued(async () => {
        const [row] = await database.query<{ count: number }>(sql.PENDING_COUNT);
        return row?.count ?? 0;
      });
      workers =
        config.workers + config.smallWorkers > 0
          ? startPreviewWorkers({ database, store: parts.store, queue, config, metrics, logger, onReaderStarted: parts.onReaderStarted })
          : undefined;
      logger.info(
        {
          workers: config.workers,
          smallWorkers: config.smallWorkers,
          timeoutSeconds: config.timeoutSeconds,
          memoryLimitBytes: config.memoryLimitBytes,
          maxExpandedBytes: config.maxExpandedBytes,
        },
        "previews: job queue started",
      );
      return workers;
    },
    previews: {
      async enqueue(tx, origin, files) {
        if (!queue) throw new Error("previews: the job queue is not started");
        const jobs = await insertPending(tx, origin, files, config.smallFileBytes);
        await enqueueProfiles(queue, tx, jobs);
        // Content this dataset had profiled before: READY (or FAILED) at commit, so announced now,
        // delivered when the commit is (after its VERSION_COMMITTED), naming this version.
        for (const sha256 of await settledContent(tx, origin.datasetId, files)) {
          await notifyDatasetEvent(tx, { type: "PREVIEW_READY", datasetId: origin.datasetId, version: origin.version, sha256 });
        }
      },
      committed: () => workers?.wake(),
    },
  };
}
