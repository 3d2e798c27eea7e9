/**
 * The API part (issue 6): the real server as a child process (production, BCRYPT_COST 12),
 * driven over loopback by autocannon, scenario by scenario (api/scenarios.ts), each beside
 * its floors measured right after it: its SQL through a `pg` pool (api/sql-floor.ts) and a
 * bare Fastify route answering a body of the same size (api/bare-server.ts); then
 * `datasets` during a login storm, and (full mode) a 60 s mixed soak between two RSS
 * readings. With --profile, api/profile.ts runs the server again under `node --cpu-prof`.
 */
import type { Watched } from "../harness/cpu.js";
import type { BenchDatabase, Fixtures } from "../harness/database.js";
import { fmt, fmtRate } from "../harness/format.js";
import { log, onCleanup, sleep } from "../harness/lifecycle.js";
import { type LoadResult, runLoad, startLoad } from "../harness/load.js";
import type { BenchOptions } from "../harness/options.js";
import { primeSessions } from "../harness/priming.js";
import { type ChildServer, freePort, startApiServer, startChild } from "../harness/processes.js";
import type { ProfileSummary } from "../harness/profile.js";
import type { BenchRun } from "../harness/run.js";
import { buildScenarios, loginRequests, MIX_DESCRIPTION, representatives, type Scenario, type ScenarioName } from "./scenarios.js";
import { runSqlFloor, type SqlFloorResult } from "./sql-floor.js";

export interface ScenarioResult {
  name: ScenarioName;
  label: string;
  connections: number;
  server: LoadResult;
  sqlFloor?: SqlFloorResult;
  /** The bare Fastify route with a body of the server's mean body size. */
  bareRoute?: LoadResult & { bodyBytes: number };
}

export interface LoginStormResult {
  stormLogins: number;
  /** datasets(first: 20) alone, measured right before the storm. */
  alone: LoadResult;
  duringStorm: LoadResult;
  logins: LoadResult;
}

export interface MemoryResult {
  /** RSS right after start, before any request. */
  startMiB: number;
  /** After every scenario ran (the server is warm), before the soak. */
  afterWarmupMiB: number;
  soakSeconds: number;
  /** Every 5 s during the soak. */
  soakSamplesMiB: number[];
  afterSoakMiB?: number;
  soak?: LoadResult;
}

/** With --profile: the server's main thread under load (api/profile.ts). */
export type ApiProfile = Omit<ProfileSummary, "file"> & { file: string; underProfiler: Array<{ label: string; rps: number; p99Ms: number }> };

/** The API part's figures, as the results JSON has them. */
export interface ApiResult {
  scenarios: ScenarioResult[];
  loginStorm: LoginStormResult;
  memory: MemoryResult;
}

/** The API part's settings, as the results record them. */
export function apiSettings(options: BenchOptions): Record<string, string | number> {
  return {
    duration: `${options.scenario.warmupSeconds} s warm-up + ${options.scenario.seconds} s per scenario`,
    connections: options.connections,
    loginConnections: options.loginConnections,
    bcryptCost: options.bcryptCost,
    hashWorkers: "default (cores − 1)",
    serverPool: "default (10)",
    sqlFloorPool: options.sqlFloorPoolSize,
    sqlFloorDuration: `${options.sqlFloor.warmupSeconds} s warm-up + ${options.sqlFloor.seconds} s`,
    bareRouteDuration: `${options.bareRoute.warmupSeconds} s warm-up + ${options.bareRoute.seconds} s`,
    mix: MIX_DESCRIPTION,
    tokens: `${options.connections} users' tokens per scenario (the admin: ${options.connections} sessions)`,
    environment: "NODE_ENV=production LOG_LEVEL=warn EXPOSE_STATEMENT_COUNT=true, throttle limits raised",
    loadGenerator: "autocannon 8 in the benchmark's process, same machine",
  };
}

/** The bare Fastify route that answers any body size (api/bare-server.ts), as its own process like the server. */
async function startBareServer(): Promise<ChildServer> {
  const port = await freePort();
  return startChild({ label: "bare route", args: ["--import", "tsx", "bench/api/bare-server.ts"], env: { PORT: String(port) }, port });
}

/**
 * Each scenario on the server, then at once its SQL floor and its bare route (so that a
 * ratio's two sides are measured close together on a machine others may share), then
 * datasets under a login storm and the memory soak.
 */
export async function measureApi(run: BenchRun): Promise<ApiResult> {
  const { options, database, fixtures } = run;
  const scenarios = buildScenarios(fixtures, options);
  const results: ScenarioResult[] = [];
  const server = await startApiServer({ databaseUrl: database.url, jwtSecret: run.jwtSecret, bcryptCost: options.bcryptCost });
  const watch = watching(server, database);
  const startMiB = server.rssMiB();
  log(`server pid ${server.pid} on ${server.origin}, RSS ${fmt(startMiB)} MiB`);
  await preflight(server.origin, scenarios);
  await primeSessions(server.origin, fixtures);
  const bare = await startBareServer();
  const pool = database.pool(options.sqlFloorPoolSize);
  const endPool = onCleanup("end the SQL floor's pool", () => pool.end());

  log(
    `\n== Each scenario: the server (${options.scenario.warmupSeconds} s warm-up + ${options.scenario.seconds} s), ` +
      `its SQL through a pg pool of ${options.sqlFloorPoolSize} by ${options.connections} loops ` +
      `(${options.sqlFloor.warmupSeconds} + ${options.sqlFloor.seconds} s), ` +
      `a bare Fastify route with the same body size (${options.bareRoute.warmupSeconds} + ${options.bareRoute.seconds} s)`,
  );
  for (const scenario of scenarios) {
    await run.settle();
    const measured = await runLoad({
      origin: server.origin,
      watch,
      requests: scenario.requests,
      connections: scenario.connections,
      ...options.scenario,
    });
    const result: ScenarioResult = { name: scenario.name, label: scenario.label, connections: scenario.connections, server: measured };
    results.push(result);
    log(progressLine(scenario.label, measured));
    if (scenario.name === "login" || scenario.name === "mix") await drainLogins(server.origin, fixtures);

    if (scenario.sql) {
      await run.settle();
      result.sqlFloor = await runSqlFloor(pool, scenario.sql, options.connections, options.sqlFloor, { postgresPids: database.backendPids });
      log(floorLine("  its SQL floor", result.sqlFloor));
    }

    const bodyBytes = Math.round(measured.meanBodyBytes);
    const requests = scenario.requests.map((request) => ({ ...request, path: `/bare/${bodyBytes}` }));
    await run.settle();
    const bareMeasured = await runLoad({
      origin: bare.origin,
      watch: { serverPid: bare.pid },
      requests,
      connections: scenario.connections,
      ...options.bareRoute,
    });
    result.bareRoute = { ...bareMeasured, bodyBytes };
    log(progressLine(`  bare route, ${fmt(bodyBytes)} B`, bareMeasured));
  }
  await endPool();
  await bare.stop();

  const loginStorm = await measureLoginStorm(run, scenarios, server, watch);
  const memory = await measureMemory(run, scenarios, server, watch, startMiB);
  await server.stop();
  return { scenarios: results, loginStorm, memory };
}

/** `datasets` again while `stormLogins` logins are in flight all the time, against its figures alone. */
async function measureLoginStorm(run: BenchRun, scenarios: Scenario[], server: ChildServer, watch: Watched): Promise<LoginStormResult> {
  const { options, fixtures } = run;
  const datasets = scenarios.find((scenario) => scenario.name === "datasets")!;
  log(`\n== Event loop: datasets(first: 20) alone, then while ${options.stormLogins} logins are in flight`);
  await run.settle();
  const alone = await runLoad({ origin: server.origin, watch, requests: datasets.requests, connections: datasets.connections, ...options.scenario });
  log(progressLine("datasets(first: 20) alone", alone));
  await run.settle();
  const storm = startLoad(
    { origin: server.origin, watch, requests: loginRequests(fixtures), connections: options.stormLogins, warmupSeconds: 0, seconds: 3600 },
    3600,
  );
  // Let the logins queue up in the hash workers before measuring.
  await sleep(1_000);
  const duringStorm = await runLoad({
    origin: server.origin,
    watch,
    requests: datasets.requests,
    connections: datasets.connections,
    ...options.scenario,
  });
  storm.stop();
  const logins = await storm.done;
  log(progressLine("datasets(first: 20) during the storm", duringStorm));
  log(progressLine(`  the ${options.stormLogins} logins meanwhile`, logins));
  await drainLogins(server.origin, fixtures);
  return { stormLogins: options.stormLogins, alone, duringStorm, logins };
}

/** RSS once every scenario ran, then (full mode) across a mixed soak. */
async function measureMemory(run: BenchRun, scenarios: Scenario[], server: ChildServer, watch: Watched, startMiB: number): Promise<MemoryResult> {
  const { options } = run;
  const afterWarmupMiB = server.rssMiB();
  const memory: MemoryResult = { startMiB, afterWarmupMiB, soakSeconds: options.soakSeconds, soakSamplesMiB: [] };
  if (options.soakSeconds <= 0) return memory;
  log(`\n== Memory: ${options.soakSeconds} s mixed soak (RSS ${fmt(afterWarmupMiB)} MiB before)`);
  const mix = scenarios.find((scenario) => scenario.name === "mix")!;
  const sampler = setInterval(() => memory.soakSamplesMiB.push(server.rssMiB()), 5_000);
  try {
    memory.soak = await runLoad({
      origin: server.origin,
      watch,
      requests: mix.requests,
      connections: mix.connections,
      warmupSeconds: 0,
      seconds: options.soakSeconds,
    });
  } finally {
    clearInterval(sampler);
  }
  memory.afterSoakMiB = server.rssMiB();
  log(progressLine("mix soak", memory.soak));
  log(`  RSS ${fmt(afterWarmupMiB)} → ${fmt(memory.afterSoakMiB)} MiB`);
  await drainLogins(server.origin, run.fixtures);
  return memory;
}

// ---------------------------------------------------------------------------------------
// Helpers

/** What a run against `server` accounts CPU time for. */
export function watching(server: ChildServer, database: BenchDatabase): Watched {
  return { serverPid: server.pid, postgresPids: database.backendPids };
}

/** One request of each kind of each scenario, checked before any load: a broken scenario stops the run. */
async function preflight(origin: string, scenarios: Scenario[]): Promise<void> {
  const checked: string[] = [];
  for (const scenario of scenarios) {
    for (const request of representatives(scenario)) {
      const response = await fetch(`${origin}${request.path}`, { method: "POST", headers: request.headers, body: request.body });
      const text = await response.text();
      let body: { data?: unknown; errors?: unknown } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // reported below
      }
      if (response.status !== 200 || body.errors !== undefined || body.data == null) {
        throw new Error(`preflight: ${scenario.name} (${request.kind}) answered HTTP ${response.status}: ${text.slice(0, 500)}`);
      }
      checked.push(`${request.kind} ${response.headers.get("x-sql-statements") ?? "?"}`);
    }
  }
  log(`preflight ok (SQL statements: ${[...new Set(checked)].join(", ")})`);
}

/**
 * Waits until the logins that connections closed at the end of a run left queued for the
 * hash workers are done, so they do not run into the next measurement: one more login
 * queues behind them all.
 */
async function drainLogins(origin: string, fixtures: Fixtures): Promise<void> {
  const started = performance.now();
  const request = loginRequests(fixtures)[0]!;
  const response = await fetch(`${origin}${request.path}`, {
    method: "POST",
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(180_000),
  });
  await response.arrayBuffer();
  log(`  (${fmt((performance.now() - started) / 1000, 1)} s for the logins still queued to finish)`);
}

function floorLine(label: string, floor: SqlFloorResult): string {
  return (
    `  ${label.padEnd(36)} ${fmt(floor.requestsPerSecond).padStart(7)} req/s  ${fmt(floor.statementsPerSecond).padStart(7)} stmts/s` +
    `  p99 ${fmt(floor.p99Ms, 1)} ms  CPU: driver ${fmt(floor.cpu.loadGenerator)}%, PostgreSQL ${fmt(floor.cpu.postgres)}% ` +
    `(${fmt(floor.cpu.postgresMsPerRequest, 2)} ms/req), other ${fmt(floor.cpu.other)}%` +
    `${floor.errors ? `  !! ${floor.errors} errors: ${floor.firstError}` : ""}`
  );
}

export function progressLine(label: string, result: LoadResult): string {
  const problems = result.non2xx + result.graphqlErrors + result.connectionErrors;
  return (
    `  ${label.padEnd(36)} ${fmtRate(result.rps).padStart(7)} req/s  p50 ${fmt(result.p50Ms, 1).padStart(6)} ms  p99 ${fmt(result.p99Ms, 1).padStart(6)} ms` +
    `${result.statements ? `  ${fmt(result.statements.mean, 2)} SQL/req` : ""}` +
    `  CPU: server ${fmt(result.cpu.server)}% (${fmt(result.cpu.serverMsPerRequest, 2)} ms/req), PostgreSQL ${fmt(result.cpu.postgres)}%, ` +
    `load generator ${fmt(result.cpu.loadGenerator)}%, other ${fmt(result.cpu.other)}%` +
    `${problems ? `  !! ${result.non2xx} non-2xx, ${result.graphqlErrors} GraphQL errors, ${result.connectionErrors} connection errors; first: ${result.firstError ?? "?"}` : ""}`
  );
}
