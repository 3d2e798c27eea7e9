import type { Logger } from "pino";
import type { PreviewsConfig } from "../config/config.js";
import type { Database, Transaction } from "../db/database.js";
import type { PreviewMetrics } from "../observability/metrics.js";
import type { BlobStore } from "../storage/blob-store.js";
import { startProfileQueue } from "./queue.js";
import * as sql from "./sql.js";
import { type CommitOrigin, type CommittedFile, insertPending } from "./store.js";
import { type PreviewWorkers, startPreviewWorkers } from "./worker.js";

/** What the rest of the server knows of previews. */
export interface Previews {
  /** In a commit's transaction: queue profiles of these newly committed files' content (each content once per dataset). */
  enqueue(tx: Transaction, origin: CommitOrigin, files: readonly CommittedFile[]): Promise<void>;
  /** After such a commit: this instance's idle workers look at once. */
  committed(): void;
  close(): Promise<void>;
}

/** Seconds a taken job stays its worker's beyond PREVIEW_TIMEOUT (the result's transaction, a slow database). */
const LEASE_GRACE_SECONDS = 5;

export interface PreviewParts {
  /** The unwrapped database: the queue's polling is nobody's request. */
  database: Database;
  store: BlobStore;
  config: PreviewsConfig;
  metrics: PreviewMetrics;
  logger: Logger;
  onReaderStarted?: (pid: number) => void;
}

/** Starts the queue, and (unless PREVIEW_WORKERS is 0) this instance's workers. */
export async function startPreviews(parts: PreviewParts): Promise<Previews> {
  const { database, config, metrics, logger } = parts;
  const queue = await startProfileQueue(database, { leaseSeconds: config.timeoutSeconds + LEASE_GRACE_SECONDS });
  metrics.countQueued(async () => {
    const [row] = await database.query<{ count: number }>(sql.PENDING_COUNT);
    return row?.count ?? 0;
  });
  const workers: PreviewWorkers | undefined =
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
  return {
    async enqueue(tx, origin, files) {
      const jobs = await insertPending(tx, origin, files, config.smallFileBytes);
      await queue.enqueue(tx, jobs);
    },
    committed: () => workers?.wake(),
    async close() {
      await workers?.stop();
      await queue.stop();
    },
  };
}
