import PgBoss from "pg-boss";
import type { Database, Queryable, Transaction } from "../db/database.js";

/**
 * The durable job queue: pg-boss 10 (the last release for Node 20), in PostgreSQL beside our
 * tables. Chosen over graphile-worker (0.16 wants a `pg.Pool` of its own, which PGlite has
 * not; 0.17+ and pg-boss 11+ need Node 22) because it takes any `executeSql(text, values)`, so
 * it runs over our `Database` on both engines, PGlite included, and inside our own
 * transactions: a change enqueues in its transaction, and a worker completes the job in the
 * transaction that stores its result.
 *
 * What pg-boss gives: a job is taken with SELECT … FOR UPDATE SKIP LOCKED by one worker of
 * any instance; a taken job that is neither completed nor failed within its lease
 * (`expireInSeconds`) is failed by the maintenance of any instance (a restart resumes it);
 * failures retry with exponential backoff, and after the last one the job moves to its
 * queue's dead letter, if it names one.
 *
 * Its tables live in a schema of their own (pg-boss runs its own migrations there, under an
 * advisory lock): `pgboss` when ours are in `public`, else `<our schema>_pgboss` (each test's
 * fresh schema).
 *
 * Each domain declares its jobs (`JobDeclaration`: its queues with their retry policy, and the
 * handler that works them); `src/jobs/runner.ts` starts the queue with every declaration.
 */

/** How often the maintenance of some instance fails jobs whose lease ran out. */
const MAINTENANCE_INTERVAL_SECONDS = 30;

/** One pg-boss queue as a domain declares it: its name, its retry policy and its lease. */
export interface QueueDeclaration {
  name: string;
  /** Attempts of one job: the first and `limit` retries; `delaySeconds` before the first retry, doubled (with jitter) for each next one with `backoff`. */
  retry: { limit: number; delaySeconds?: number; backoff?: boolean };
  /** How long a taken job stays its worker's before maintenance fails it. */
  leaseSeconds: number;
  /** Where jobs go once every attempt failed (pg-boss's dead letter). */
  deadLetter?: string;
}

/** A domain's background job: its queues, and the handler that works them on this instance. */
export interface JobDeclaration {
  /** For the logs. */
  name: string;
  /** Created at start-up in this order (a dead letter before the queues that name it). */
  queues: readonly QueueDeclaration[];
  /** Starts this instance's workers on the started queue (none: returns undefined); stopped before the queue. */
  work(queue: JobQueue): JobWorkers | undefined;
}

export interface JobWorkers {
  /** Stops taking jobs and waits for those in hand. */
  stop(): Promise<void>;
}

/** A job to insert: the queue it goes to, its data and its place among the queue's jobs (higher first). */
export interface NewJob {
  queue: string;
  data: object;
  priority?: number;
}

/** The queue, started: enqueue from a transaction, take and settle jobs through `boss`. */
export interface JobQueue {
  readonly boss: PgBoss;
  /** Inserts jobs in the caller's transaction, each with its queue's declared retry policy and lease. */
  insert(tx: Transaction, jobs: readonly NewJob[]): Promise<void>;
  stop(): Promise<void>;
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

/** PostgreSQL's codes for "already there": a schema, table or index another instance made just now. */
const ALREADY_MADE = new Set(["23505", "42P06", "42P07", "42710"]);

/**
 * A started pg-boss. Two instances starting at once on a new database both find its schema
 * missing and both make it; the slower one fails on what the other made (seen behind
 * pgbouncer in tests/multi-instance.test.ts). It then starts again: by now the schema is
 * there and its migration has nothing to do.
 */
async function startBoss(database: Database, schema: string): Promise<PgBoss> {
  return againAfterRace(
    3,
    ALREADY_MADE,
    (attempt) => 200 * attempt,
    async () => {
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
        throw error;
      }
    },
  );
}

/**
 * Runs `work` until it succeeds, again after a pause while it fails with one of `codes` (the
 * loser's side of a race with another instance starting), at most `attempts` times in all.
 */
async function againAfterRace<T>(
  attempts: number,
  codes: ReadonlySet<string>,
  pauseMs: (attempt: number) => number,
  work: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= attempts || typeof code !== "string" || !codes.has(code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, pauseMs(attempt)));
    }
  }
}

/** What a queue's creation may lose a race with: "already made", or a deadlock PostgreSQL broke by aborting it. */
const QUEUE_RACE = new Set([...ALREADY_MADE, "40P01"]);

/**
 * Creates a queue (its row and its partition of pg-boss's job table). Two instances starting
 * at once on a new database create the same queues together, and PostgreSQL can find them in
 * a deadlock over the job table and the queue rows and abort one (seen behind pgbouncer in
 * tests/multi-instance.test.ts). The aborted one tries again: by then the other has made the
 * queue, and pg-boss's create_queue does nothing for a queue that is there.
 */
async function createQueue(boss: PgBoss, queue: QueueDeclaration): Promise<void> {
  await againAfterRace(
    5,
    QUEUE_RACE,
    (attempt) => 50 * attempt + Math.random() * 100,
    () => boss.createQueue(queue.name, { name: queue.name, ...policy(queue) }),
  );
}

/** pg-boss's options for a queue's jobs, from its declaration. */
function policy(queue: QueueDeclaration) {
  return {
    retryLimit: queue.retry.limit,
    ...(queue.retry.delaySeconds === undefined ? {} : { retryDelay: queue.retry.delaySeconds }),
    ...(queue.retry.backoff === undefined ? {} : { retryBackoff: queue.retry.backoff }),
    expireInSeconds: queue.leaseSeconds,
    ...(queue.deadLetter === undefined ? {} : { deadLetter: queue.deadLetter }),
  };
}

/**
 * Starts pg-boss on `database` (the unwrapped one: its polling is nobody's request), creating
 * or migrating its schema and every declared queue, and makes a first maintenance round at
 * once so that jobs whose lease ran out while no instance was up are taken up again now.
 */
export async function startJobQueue(database: Database, jobs: readonly JobDeclaration[]): Promise<JobQueue> {
  const schema = await bossSchema(database);
  const boss = await startBoss(database, schema);
  const declared = new Map<string, QueueDeclaration>();
  for (const queue of jobs.flatMap((job) => job.queues)) {
    await createQueue(boss, queue);
    declared.set(queue.name, queue);
  }
  await (boss as unknown as { maintain(): Promise<unknown> }).maintain();
  return {
    boss,
    async insert(tx, jobs) {
      if (jobs.length === 0) return;
      await boss.insert(
        jobs.map((job) => {
          const queue = declared.get(job.queue);
          if (!queue) throw new Error(`no job queue named ${job.queue} was declared`);
          // pg-boss keeps priorities in an integer column.
          return { name: job.queue, data: job.data, priority: Math.max(job.priority ?? 0, -2_000_000_000), ...policy(queue) };
        }),
        { db: bossDb(tx) },
      );
    },
    stop: () => boss.stop({ graceful: false, wait: true, close: false }),
  };
}
