import type { Logger } from "pino";
import { deleteAuditEventsBefore } from "../audit/store.js";
import { deleteExpiredCounters } from "../auth/throttle.js";
import type { Config } from "../config/config.js";
import type { Queryable } from "../db/database.js";
import type { PeriodicTask } from "./runner.js";

/**
 * What would otherwise grow without bound deleted on one timer: throttle counters whose
 * window has ended (every kind: sign-in, registration, refresh, writes), and audit events
 * older than `AUDIT_RETENTION_DAYS`. Every instance sweeps; the deletes are idempotent,
 * and batched so that none holds many row locks or runs long.
 */

/** How often each process sweeps. */
export const SWEEP_INTERVAL_MS = 5 * 60_000;

const DAY_MS = 86_400_000;

/** What one sweep deleted. */
export interface SweepResult {
  counters: number;
  auditEvents: number;
}

/** One sweep as of `now`: expired counters, and audit events past the retention (0: none). */
export async function sweep(db: Queryable, auditRetentionDays: number, now = new Date()): Promise<SweepResult> {
  const counters = await deleteExpiredCounters(db, now.getTime());
  const auditEvents = auditRetentionDays === 0 ? 0 : await deleteAuditEventsBefore(db, new Date(now.getTime() - auditRetentionDays * DAY_MS));
  return { counters, auditEvents };
}

/**
 * The sweep as a periodic task of `runner.ts`: every `SWEEP_INTERVAL_MS`, one at a time. A
 * failed sweep is logged and tried again next time.
 */
export function sweeperTask(db: Queryable, config: Pick<Config, "auditRetentionDays">, logger: Logger): PeriodicTask {
  return {
    name: "sweeper",
    everyMs: SWEEP_INTERVAL_MS,
    async run() {
      logger.debug(await sweep(db, config.auditRetentionDays), "swept expired throttle counters and audit events");
    },
    failed: "sweeping expired rows failed; trying again later",
  };
}
