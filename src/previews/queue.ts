import PgBoss from "pg-boss";
import type { Database, Queryable, Transaction } from "../db/database.js";
import type { ReadAs } from "./formats.js";

/**
 * The durable queue of profiling jobs: pg-boss 10 (the last release for Node 20), in
 * PostgreSQL beside our tables. Chosen over graphile-worker (0.16 wants a `pg.Pool` of its
 * own, which PGlite has not; 0.17+ and pg-boss 11+ need Node 22) because it takes any
 * `executeSql(text, values)`, so it runs over our `Database` on both engines, PGlite
 * included, and inside our own transactions: the commit enqueues in its transaction, and a
 * worker completes the job in the transaction that stores the profile.
 *
 * What pg-boss gives: a job is taken with SELECT … FOR UPDATE SKIP LOCKED by one worker of
 * any instance; a taken job that is neither completed nor failed within its lease
 * (`expireInSeconds`) is failed by the maintenance of any instance (a restart resumes it);
 * failures retry with exponential backoff, and after the last one the job moves to the
 * give-up queue, whose worker marks the preview FAILED.
 *
 * Two lanes, so that a few large files never hold up everyone's small ones: small
 * uncompressed text tables go to SMALL_QUEUE, which workers of their own serve
 * (PREVIEW_SMALL_WORKERS); everything else to PROFILE_QUEUE. Within a lane, pg-boss takes the
 * highest priority first: a job's priority is set at enqueue from how many previews its user
 * has queued already (src/previews/store.ts), so each user's next job goes before anyone's
 * second.
 *
 * Its tables live in a schema of their own (pg-boss runs its own migrations there, under an
 * advisory lock): `pgboss` when ours are in `public`, else `<our schema>_pgboss` (each test's
 * fresh schema).
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
/** How often the maintenance of some instance fails jobs whose lease ran out. */
const MAINTENANCE_INTERVAL_SECONDS = 30;

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

/** pg-boss's door to the database: a `Queryable`, or a transaction. */
export function bossDb(database: Queryable | Database): PgBoss.Db {
  return {
    async executeSql(text, values) {
      // pg-boss sends its migrations and maintenance as one text: BEGIN; …; COMMIT. PGlite's
      // extended protocol takes one statement, so those run as a script in our transaction.
      const script = /^\s*BEGIN;([\s\S]*)COMMIT;\s*$/.exec(text);
      if (script && (!values || values.length === 0) && "transaction" in database) {
        await database.transaction((tx: Transaction) => tx.script(script[1]!));
        return { rows: [] };
      }
      return { rows: (await database.query(text, values)) ?? [] };
    },
  };
}

/** The schema pg-boss keeps its tables in, beside ours. */
export async function bossSchema(database: Database): Promise<string> {
  const [row] = await database.query<{ schema: string }>("select current_schema() as schema");
  const ours = row?.schema ?? "public";
  return ours === "public" ? "pgboss" : `${ours}_pgboss`;
}

/** The queue, started: enqueue from a transaction, take and settle jobs. */
export interface ProfileQueue {
  readonly boss: PgBoss;
  /** Jobs for these profiles, in the caller's transaction. */
  enqueue(tx: Transaction, jobs: readonly QueuedJob[]): Promise<void>;
  stop(): Promise<void>;
}

/** PostgreSQL's codes for "already there": a schema, table or index another instance made just now. */
const ALREADY_MADE = new Set(["23505", "42P06", "42P07", "42710"]);

/**
 * A started pg-boss. Two instances starting at once on a new database both find its schema
 * missing and both make it; the slower one fails on what the other made (seen behind
 * pgbouncer in tests/multi-instance.test.ts). It then starts again: by now the schema is
 * there and its migration has nothing to do.
 */
async function startBoss(database: Database, schema: string): Promise<PgBoss> {
  for (let attempt = 1; ; attempt++) {
    const boss = new PgBoss({
      db: bossDb(database),
      schema,
      supervise: true,
      schedule: false,
      migrate: true,
      maintenanceIntervalSeconds: MAINTENANCE_INTERVAL_SECONDS,
      // Completed and failed jobs are kept a week, for operators to look at (docs/previews.md).
      archiveCompletedAfterSeconds: 7 * 86400,
    });
    // Errors of its own timers (a maintenance round while the database is away): the next round tries again.
    boss.on("error", () => {});
    try {
      await boss.start();
      return boss;
    } catch (error) {
      await boss.stop({ graceful: false, wait: true, close: false }).catch(() => {});
      const code = (error as { code?: unknown }).code;
      if (attempt >= 3 || typeof code !== "string" || !ALREADY_MADE.has(code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

/** Options for the queue: the lease is how long a taken job stays another worker's. */
export interface QueueOptions {
  leaseSeconds: number;
}

/**
 * Starts pg-boss on `database` (the unwrapped one: its polling is nobody's request), creating
 * or migrating its schema, and makes a first maintenance round at once so that jobs whose
 * lease ran out while no instance was up are taken up again now.
 */
export async function startProfileQueue(database: Database, options: QueueOptions): Promise<ProfileQueue> {
  const schema = await bossSchema(database);
  const boss = await startBoss(database, schema);
  await boss.createQueue(GIVE_UP_QUEUE, { name: GIVE_UP_QUEUE, retryLimit: RETRY_LIMIT, expireInSeconds: options.leaseSeconds });
  for (const name of [PROFILE_QUEUE, SMALL_QUEUE]) {
    await boss.createQueue(name, {
      name,
      retryLimit: RETRY_LIMIT,
      retryDelay: RETRY_DELAY_SECONDS,
      retryBackoff: true,
      expireInSeconds: options.leaseSeconds,
      deadLetter: GIVE_UP_QUEUE,
    });
  }
  await (boss as unknown as { maintain(): Promise<unknown> }).maintain();
  return {
    boss,
    async enqueue(tx, jobs) {
      if (jobs.length === 0) return;
      await boss.insert(
        jobs.map((job) => ({
          name: job.small ? SMALL_QUEUE : PROFILE_QUEUE,
          data: job.data,
          // pg-boss keeps priorities in an integer column.
          priority: Math.max(job.priority, -2_000_000_000),
          retryLimit: RETRY_LIMIT,
          retryDelay: RETRY_DELAY_SECONDS,
          retryBackoff: true,
          expireInSeconds: options.leaseSeconds,
          deadLetter: GIVE_UP_QUEUE,
        })),
        { db: bossDb(tx) },
      );
    },
    stop: () => boss.stop({ graceful: false, wait: true, close: false }),
  };
}
