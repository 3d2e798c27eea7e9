/**
 * `npm run bench [-- --quick] [-- --profile] [-- --only api|files|events]`: the benchmarks of
 * issue 6 (the API), issue 11 (files) and issue 15 (live events). See docs/benchmarks.md.
 *
 * 1. A throw-away schema on DATABASE_URL, seeded (1,000 users × 100 datasets; --quick, or
 *    files alone: 100 × 100).
 * 2. The API part: the real server as a child process (production, BCRYPT_COST 12), driven
 *    over loopback by autocannon, scenario by scenario; then `datasets` during a login storm,
 *    and (full mode) a 60 s mixed soak between two RSS readings.
 * 3. Its floors: each scenario's SQL through a `pg` pool; a bare Fastify route with the same
 *    body size. With --profile, the server again under `node --cpu-prof` for datasets and
 *    adminDatasets, and its top self-time functions.
 * 4. The files part (bench/files.ts): a fresh server, a large upload through tus, its commit
 *    and download beside a file-to-file floor, the server's RSS, parallel uploads beside `me`.
 * 5. The live-events part (bench/events.ts): a fresh server, 1,000 subscriptions over
 *    graphql-ws, commits at 50/s; latency from commit to client, RSS per subscription.
 * 6. The tables on stdout, JSON in bench/results/, and (full mode) docs/benchmarks.md.
 *
 * Everything started is stopped, and the schema dropped, at the end, on error and on Ctrl-C.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir } from "node:fs/promises";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { quietWaiter, type Watched } from "./cpu.js";
import { type BenchDatabase, createBenchDatabase, type Fixtures, seed, signIn } from "./database.js";
import { installSignalHandlers, log, onCleanup, sleep, tearDown } from "./lifecycle.js";
import { measureEvents } from "./events.js";
import { measureFiles } from "./files.js";
import { measurePreviews } from "./previews.js";
import { evaluateFilesTargets } from "./files-report.js";
import { type LoadResult, runLoad, startLoad } from "./load.js";
import { type BenchOptions, readOptions } from "./options.js";
import { fmt, fmtRate } from "./format.js";
import { startApiServer, startBareServer, type ChildServer } from "./processes.js";
import { primeSessions } from "./priming.js";
import { mainThreadProfile, summariseProfile } from "./profile.js";
import {
  type BenchResults,
  evaluateTargets,
  type LoginStormResult,
  machineFacts,
  type MemoryResult,
  type ScenarioResult,
  sourceFacts,
  terminalReport,
  writeResults,
} from "./report.js";
import { buildScenarios, loginRequests, MIX_DESCRIPTION, representatives, type Scenario } from "./scenarios.js";
import { measureSideBySide } from "./side-by-side.js";
import { sideBySideTargets } from "./side-by-side-report.js";
import { runSqlFloor, type SqlFloorResult } from "./sql-floor.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** What every phase works with. */
interface Run {
  options: BenchOptions;
  database: BenchDatabase;
  fixtures: Fixtures;
  scenarios: Scenario[];
  jwtSecret: string;
  results: ScenarioResult[];
  /** Waits (a little) for other work on the machine to stop before a measurement. */
  settle(): Promise<void>;
}

async function main(options: BenchOptions): Promise<void> {
  const started = performance.now();
  const date = new Date().toISOString();
  const source = sourceFacts();
  log(
    `bench (${options.mode}, ${options.parts.join(" + ")}${options.profile ? ", profile" : ""}): commit ${source.commit}${source.dirty ? " + uncommitted changes" : ""}`,
  );
  const load = loadavg();
  if (load[0]! > 0.5) log(`note: load average ${load.map((value) => value.toFixed(2)).join(" ")}: other work on this machine skews the figures`);

  const database = await createBenchDatabase(options.databaseUrl);
  const machine = machineFacts(database.facts);
  log(`schema ${database.schema} on ${machine.postgres.split(" on ")[0]}`);
  const seedMs = await seed(database, options);
  const datasets = options.users * options.datasetsPerUser;
  log(`seeded ${fmt(options.users)} users and ${fmt(datasets)} datasets in ${fmt(seedMs / 1000, 1)} s (vacuumed, analyzed)`);
  const jwtSecret = randomBytes(32).toString("hex");
  const fixtures = await signIn(database, jwtSecret, options.connections);
  const quiet = quietWaiter(options.quiet.totalSeconds, options.quiet.perPhaseSeconds);
  const run: Run = {
    options,
    database,
    fixtures,
    scenarios: buildScenarios(fixtures, options),
    jwtSecret,
    results: [],
    async settle() {
      const note = await quiet();
      if (note) log(`  (${note})`);
    },
  };

  const sideBySide = options.sideBySide ? await measureSideBySide(run, options.sideBySide) : undefined;
  const api = options.parts.includes("api") ? await measureServer(run) : undefined;
  const profile = api && options.profile ? await measureProfile(run, date) : undefined;
  if (!api && options.profile) log("note: --profile profiles the API part, which is not running");
  const files = options.parts.includes("files") ? await measureFiles(run) : undefined;
  const events = options.parts.includes("events") ? await measureEvents(run) : undefined;
  const previews = options.parts.includes("previews") ? await measurePreviews(run) : undefined;

  machine.loadAverageAtEnd = loadavg().map((value) => Math.round(value * 100) / 100);
  const partial: Omit<BenchResults, "targets"> = {
    date,
    mode: options.mode,
    parts: [...options.parts],
    source,
    machine,
    settings: sideBySide
      ? {
          rounds: sideBySide.rounds,
          duration: sideBySide.duration,
          rateRounds: sideBySide.rateRounds,
          connections: options.connections,
          serverPool: "default (10); PostGraphile's: 10",
          environment: "NODE_ENV=production LOG_LEVEL=warn EXPOSE_STATEMENT_COUNT=true, throttle limits raised",
          loadGenerator: "autocannon 8 (closed loop) and bench/fixed-rate.ts (open loop) in the benchmark's process, same machine",
        }
      : {
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
        },
    ...(sideBySide ? { sideBySide: { ...sideBySide, targets: sideBySide.b.version ? sideBySideTargets(sideBySide) : [] } } : {}),
    seed: { users: options.users, datasets, seconds: Math.round(seedMs / 100) / 10 },
    scenarios: run.results,
    ...api,
    ...(profile ? { profile } : {}),
    ...(files ? { files: { ...files, targets: evaluateFilesTargets(files) } } : {}),
    ...(events ? { events } : {}),
    ...(previews ? { previews } : {}),
    seconds: Math.round((performance.now() - started) / 1000),
  };
  const results: BenchResults = { ...partial, targets: evaluateTargets(partial) };
  log(terminalReport(results));
  const written = await writeResults(results, options.mode === "full");
  log(`\nwrote ${written.join(", ")} (${fmt(results.seconds)} s)`);
}

// ---------------------------------------------------------------------------------------
// The server and its floors

/**
 * Each scenario on the server, then at once its SQL floor and its bare route (so that a
 * ratio's two sides are measured close together on a machine others may share), then
 * datasets under a login storm and the memory soak.
 */
async function measureServer(run: Run): Promise<{ loginStorm: LoginStormResult; memory: MemoryResult }> {
  const { options, database, scenarios, fixtures } = run;
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
    run.results.push(result);
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

  const loginStorm = await measureLoginStorm(run, server, watch);
  const memory = await measureMemory(run, server, watch, startMiB);
  await server.stop();
  return { loginStorm, memory };
}

/** `datasets` again while `stormLogins` logins are in flight all the time, against its figures alone. */
async function measureLoginStorm(run: Run, server: ChildServer, watch: Watched): Promise<LoginStormResult> {
  const { options, fixtures } = run;
  const datasets = run.scenarios.find((scenario) => scenario.name === "datasets")!;
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
async function measureMemory(run: Run, server: ChildServer, watch: Watched, startMiB: number): Promise<MemoryResult> {
  const { options } = run;
  const afterWarmupMiB = server.rssMiB();
  const memory: MemoryResult = { startMiB, afterWarmupMiB, soakSeconds: options.soakSeconds, soakSamplesMiB: [] };
  if (options.soakSeconds <= 0) return memory;
  log(`\n== Memory: ${options.soakSeconds} s mixed soak (RSS ${fmt(afterWarmupMiB)} MiB before)`);
  const mix = run.scenarios.find((scenario) => scenario.name === "mix")!;
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
// The profile

/** The server again, under `node --cpu-prof`, for datasets and adminDatasets; its main thread's self time under load. */
async function measureProfile(run: Run, date: string): Promise<NonNullable<BenchResults["profile"]>> {
  const { options, database } = run;
  const directory = `${ROOT}bench/profiles/${date.replace(/\.\d+Z$/, "Z").replace(/:/g, "-")}`;
  await mkdir(directory, { recursive: true });
  log(`\n== Profile: the server under node --cpu-prof (${directory.slice(ROOT.length)})`);
  const server = await startApiServer({
    databaseUrl: database.url,
    jwtSecret: run.jwtSecret,
    bcryptCost: options.bcryptCost,
    cpuProfileDir: directory,
  });
  const watch = watching(server, database);
  const underProfiler: Array<{ label: string; rps: number; p99Ms: number }> = [];
  let measuredFrom: number | undefined;
  for (const scenario of run.scenarios.filter((entry) => entry.name === "datasets" || entry.name === "adminDatasets")) {
    await run.settle();
    measuredFrom ??= performance.now() + options.scenario.warmupSeconds * 1000;
    const measured = await runLoad({
      origin: server.origin,
      watch,
      requests: scenario.requests,
      connections: scenario.connections,
      ...options.scenario,
    });
    underProfiler.push({ label: scenario.label, rps: measured.rps, p99Ms: measured.p99Ms });
    log(progressLine(`${scenario.label} (profiled)`, measured));
  }
  const measuredTo = performance.now();
  await server.stop();
  const exited = performance.now();
  const file = mainThreadProfile(await readdir(directory));
  if (!file) throw new Error(`the profiled server wrote no main-thread .cpuprofile into ${directory}`);
  // Only the time under load: not start-up (module loading), the first warm-up or shutdown.
  const summary = await summariseProfile(`${directory}/${file}`, {
    fromSecondsBeforeEnd: (exited - measuredFrom!) / 1000,
    toSecondsBeforeEnd: (exited - measuredTo) / 1000,
  });
  return { ...summary, file: summary.file.slice(ROOT.length), underProfiler };
}

// ---------------------------------------------------------------------------------------
// Helpers

/** What a run against `server` accounts CPU time for. */
function watching(server: ChildServer, database: BenchDatabase): Watched {
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

function progressLine(label: string, result: LoadResult): string {
  const problems = result.non2xx + result.graphqlErrors + result.connectionErrors;
  return (
    `  ${label.padEnd(36)} ${fmtRate(result.rps).padStart(7)} req/s  p50 ${fmt(result.p50Ms, 1).padStart(6)} ms  p99 ${fmt(result.p99Ms, 1).padStart(6)} ms` +
    `${result.statements ? `  ${fmt(result.statements.mean, 2)} SQL/req` : ""}` +
    `  CPU: server ${fmt(result.cpu.server)}% (${fmt(result.cpu.serverMsPerRequest, 2)} ms/req), PostgreSQL ${fmt(result.cpu.postgres)}%, ` +
    `load generator ${fmt(result.cpu.loadGenerator)}%, other ${fmt(result.cpu.other)}%` +
    `${problems ? `  !! ${result.non2xx} non-2xx, ${result.graphqlErrors} GraphQL errors, ${result.connectionErrors} connection errors; first: ${result.firstError ?? "?"}` : ""}`
  );
}

const options = readOptions(process.argv.slice(2), process.env);
installSignalHandlers();
main(options).then(
  async () => {
    await tearDown();
    process.exit(0);
  },
  async (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await tearDown();
    process.exit(1);
  },
);
