/**
 * The SQL floor: a scenario's statements issued straight through a `pg` pool, no HTTP and
 * no GraphQL, by as many concurrent loops as the scenario has connections.
 */
import type pg from "pg";
import type { Queryable } from "../src/db/database.js";
import { type CpuUse, cpuBetween, snapshot, type Watched } from "./cpu.js";
import type { Phase } from "./options.js";
import type { SqlDb, SqlWork } from "./scenarios.js";

export interface SqlFloorResult {
  /** Scenario requests' worth of SQL per second. */
  requestsPerSecond: number;
  statementsPerSecond: number;
  statementsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU in percent of one core (`loadGenerator` is the driver here), and PostgreSQL's CPU time per request. */
  cpu: CpuUse & { postgresMsPerRequest: number };
  firstError?: string;
}

export async function runSqlFloor(pool: pg.Pool, work: SqlWork, concurrency: number, phase: Phase, watch: Watched): Promise<SqlFloorResult> {
  if (phase.warmupSeconds > 0) await drive(pool, work, concurrency, phase.warmupSeconds, watch);
  return drive(pool, work, concurrency, phase.seconds, watch);
}

async function drive(pool: pg.Pool, work: SqlWork, concurrency: number, seconds: number, watch: Watched): Promise<SqlFloorResult> {
  let statements = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const latencies: number[] = [];
  // Statements are counted as the server counts them: BEGIN and COMMIT are not.
  const on = (client: pg.Pool | pg.PoolClient): Queryable => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      statements += 1;
      const result = await client.query(text, params as unknown[] | undefined);
      return result.rows as Row[];
    },
  });
  const db: SqlDb = {
    ...on(pool),
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        await work(on(client));
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
  };
  const cpuAtStart = await snapshot(watch);
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      const begun = performance.now();
      try {
        await work(db, next++);
        latencies.push(performance.now() - begun);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuBetween(cpuAtStart, await snapshot(watch));
  latencies.sort((a, b) => a - b);
  const at = (fraction: number) => latencies[Math.min(latencies.length - 1, Math.floor(fraction * latencies.length))] ?? Number.NaN;
  return {
    requestsPerSecond: latencies.length / elapsed,
    statementsPerSecond: statements / elapsed,
    statementsPerRequest: latencies.length > 0 ? statements / (latencies.length + errors) : 0,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    errors,
    cpu: { ...cpu, postgresMsPerRequest: (cpu.postgres * 10 * elapsed) / latencies.length },
    ...(firstError ? { firstError } : {}),
  };
}
