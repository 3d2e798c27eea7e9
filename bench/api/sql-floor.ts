/**
 * The SQL floor: a scenario's statements issued straight through a `pg` pool, no HTTP and
 * no GraphQL, by as many concurrent loops as the scenario has connections. Each scenario's
 * statements are the server's own: the same store functions its resolvers call, in the
 * same order (harness/product.ts), so the floor follows any change to them.
 */
import type pg from "pg";
import { type CpuUse, cpuBetween, snapshot, type Watched } from "../harness/cpu.js";
import type { Fixtures } from "../harness/database.js";
import type { Phase } from "../harness/options.js";
import {
  createAuditLog,
  createSession,
  createThrottle,
  findCredentialsByEmail,
  insertDataset,
  listDatasets,
  type Queryable,
  type ThrottleSettings,
} from "../harness/product.js";

/** Statements straight to the pool; `transaction` runs BEGIN … COMMIT on one connection. */
export interface SqlDb extends Queryable {
  transaction(work: (tx: Queryable) => Promise<void>): Promise<void>;
}

/** One request's worth of SQL, run on `db` (which counts the statements); `i` picks the user. */
export type SqlWork = (db: SqlDb, i: number) => Promise<void>;

export const SEARCH_WORD = "weather";
/** What createDataset creates, in the requests and in the floor. */
export const NEW_DATASET = { name: "Bench dataset", description: "Made by the benchmark", filePath: "/data/bench/upload.csv" };
const PAGE = 20;
/** What the server asks for: one row more than the page, to know whether there is a next page. */
const PAGE_LIMIT = PAGE + 1;
/** The client address every request has (loopback); the throttles key on it. */
const CLIENT_ADDRESS = "127.0.0.1";
const SESSION_LIFETIMES = { refreshTokenTtlSeconds: 30 * 86_400, refreshReuseIntervalSeconds: 60 };
/** The server's throttle settings in the benchmark (harness/processes.ts raises the limits). */
const THROTTLE: ThrottleSettings = {
  loginMaxFailures: 1000,
  addressMaxFailures: 100_000,
  loginWindowSeconds: 900,
  accountMaxFailures: 100_000,
  accountWindowSeconds: 86400,
  registerPerAddressPerHour: 100_000,
  refreshPerAddressPerMinute: 100_000,
  writesPerUserPerMinute: 1_000_000,
  anonymousPerAddressPerMinute: 1_000_000,
};

const pick = <T>(items: readonly T[], i: number): T => items[i % items.length]!;

/*
 * No viewer check: the server answers it from its viewer cache once a session has been seen
 * (src/auth/viewer-cache.ts), which every session has been after the warm-up.
 */

/**
 * The page, with the count when `totalCount` is selected and the owners when they are
 * selected and not the viewer, all in one statement, as src/datasets/resolvers.ts asks it.
 */
async function datasetPage(db: Queryable, ownerId: string | null, search: string | null, extras: { totalCount: boolean; owners: boolean }) {
  await listDatasets(db, { scope: { kind: "owner", ownerId }, search }, "CREATED_AT_DESC", null, PAGE_LIMIT, extras);
}

/** Each scenario's SQL, as the server runs it for one request. */
export function scenarioSql(fixtures: Fixtures) {
  // `me` runs no SQL once the viewer is cached: nothing to floor, nothing in the mix.
  const me: SqlWork = async () => {};
  const datasets: SqlWork = async (db, i) => {
    const actor = pick(fixtures.readers, i);
    await datasetPage(db, actor.userId, null, { totalCount: true, owners: false });
  };
  const search: SqlWork = async (db, i) => {
    const actor = pick(fixtures.readers, i);
    await datasetPage(db, actor.userId, SEARCH_WORD, { totalCount: true, owners: false });
  };
  const adminDatasets: SqlWork = async (db) => {
    await datasetPage(db, null, null, { totalCount: false, owners: true });
  };
  const audit = createAuditLog();
  const createDataset: SqlWork = async (db, i) => {
    await insertDataset(db, audit, pick(fixtures.writers, i).userId, NEW_DATASET);
  };
  /**
   * src/auth/resolvers.ts's login without the bcrypt comparison: the throttle counts, the
   * credentials, the throttle reset, then the session and its audit event in a transaction.
   */
  const login: SqlWork = async (db, i) => {
    const email = pick(fixtures.loginEmails, i);
    const throttle = createThrottle(db, THROTTLE);
    await throttle.loginAttempt(email, CLIENT_ADDRESS);
    const user = await findCredentialsByEmail(db, email);
    await throttle.loginSucceeded(email, CLIENT_ADDRESS);
    await db.transaction(async (tx) => {
      const session = await createSession(tx, user!.id, SESSION_LIFETIMES);
      await audit.record(tx, { type: "login.succeeded", actorId: user!.id, subjectId: session.sessionId });
    });
  };
  return { me, datasets, search, adminDatasets, createDataset, login };
}

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
    async queryArrays(text: string, params?: readonly unknown[]) {
      statements += 1;
      const result = await client.query({ text, values: params as unknown[] | undefined, rowMode: "array" });
      return result.rows as unknown[][];
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
