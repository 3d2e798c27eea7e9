import type { Logger } from "pino";
import type { PreviewsConfig } from "../config/config.js";
import type { Database, Transaction } from "../db/database.js";
import type { PreviewMetrics } from "../observability/metrics.js";
import type { BlobStore } from "../storage/blob-store.js";
import type { CommitOrigin, CommittedFile } from "./store.js";

/**
 * What the rest of the server knows of previews. Made with the profile job's declaration
 * (`job.ts`); its queue and workers start and stop with every other job (`src/jobs/runner.ts`).
 */
export interface Previews {
  /**
   * In a commit's transaction, after its VERSION_COMMITTED: queue profiles of these newly
   * committed files' content (each content once per dataset), and announce PREVIEW_READY for
   * the content whose profile this dataset already has.
   */
  enqueue(tx: Transaction, origin: CommitOrigin, files: readonly CommittedFile[]): Promise<void>;
  /** After such a commit: this instance's idle workers look at once. */
  committed(): void;
}

export interface PreviewParts {
  /** The unwrapped database: the queue's polling is nobody's request. */
  database: Database;
  store: BlobStore;
  config: PreviewsConfig;
  metrics: PreviewMetrics;
  logger: Logger;
  onReaderStarted?: (pid: number) => void;
}
