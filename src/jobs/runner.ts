import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import { type JobDeclaration, type JobQueue, startJobQueue } from "./queue.js";

/**
 * The one place background work starts and stops: the job queue with every domain's declared
 * jobs and their workers, the LISTEN loops, and the periodic tasks, started in that order
 * by `startBackground` (which `src/app.ts` calls once) and stopped in the reverse order by
 * its `stop()` (on the server's close).
 */

/** A round of work on a timer, every instance running its own (make a round idempotent, or lock). */
export interface PeriodicTask {
  /** For the logs. */
  name: string;
  everyMs: number;
  /** A first round at start, rather than after `everyMs`. */
  atStart?: boolean;
  /** One round, logging what it did; a failure is logged with `failed` and the next round runs as planned. */
  run(): Promise<void>;
  failed: string;
}

/** A LISTEN loop, or anything else started once and closed on stop. */
export interface Closable {
  close(): Promise<void>;
}

export interface BackgroundParts<L extends Record<string, Closable>> {
  /** The unwrapped database: the queue's polling is nobody's request and no statement metric. */
  database: Database;
  logger: Logger;
  /** Every domain's job declaration: their queues are made, then their workers started, in this order. */
  jobs: readonly JobDeclaration[];
  /** Started in this order, after the jobs; what each start gives is returned under its key. */
  listeners: { [K in keyof L]: () => Promise<L[K]> };
  /** Started last, in this order. */
  periodic: readonly PeriodicTask[];
}

export interface Background<L> {
  /** The started listeners, by the keys they were declared under. */
  listeners: L;
  queue: JobQueue;
  /** Stops everything in the reverse order of its start; each is stopped even if another failed. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `everyMs` on an unref'd timer, one round at a time (a round still running
 * when the next is due makes that one skip). Stopping clears the timer; a round in progress ends on its own.
 */
function startPeriodic(task: PeriodicTask, logger: Logger): () => void {
  let running = false;
  const round = () => {
    if (running) return;
    running = true;
    task
      .run()
      .catch((error: unknown) => logger.warn({ err: error }, task.failed))
      .finally(() => {
        running = false;
      });
  };
  if (task.atStart) round();
  const timer = setInterval(round, task.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Starts every job, listener and periodic task; if one fails to start, those already started are stopped. */
export async function startBackground<L extends Record<string, Closable>>(parts: BackgroundParts<L>): Promise<Background<L>> {
  const stops: Array<() => Promise<void> | void> = [];
  async function stop() {
    let failure: unknown;
    for (const stopOne of stops.splice(0).reverse()) {
      try {
        await stopOne();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }
  try {
    const queue = await startJobQueue(parts.database, parts.jobs);
    stops.push(() => queue.stop());
    for (const job of parts.jobs) {
      const workers = job.work(queue);
      if (workers) stops.push(() => workers.stop());
    }
    const listeners: Partial<L> = {};
    for (const key of Object.keys(parts.listeners) as Array<keyof L & string>) {
      const listener = await parts.listeners[key]();
      listeners[key] = listener;
      stops.push(() => listener.close());
    }
    for (const task of parts.periodic) stops.push(startPeriodic(task, parts.logger));
    return { listeners: listeners as L, queue, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
