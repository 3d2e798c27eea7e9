/** The API part's section: its tables on the terminal, and its part of docs/benchmarks.md. */
import { type CpuUse, DISTURBED_PERCENT } from "../harness/cpu.js";
import { codeAndMachineLines, type RunFacts } from "../harness/facts.js";
import { fmt, fmtRate, markdownTable, pct, type Table, textTable } from "../harness/format.js";
import type { ApiProfile, LoginStormResult, MemoryResult, ScenarioResult } from "./measure.js";
import type { Target } from "./targets.js";

/** A run's results as far as the API part goes (its figures sit at the top level of the results JSON). */
export type ApiResults = RunFacts & {
  scenarios: ScenarioResult[];
  loginStorm?: LoginStormResult;
  memory?: MemoryResult;
  profile?: ApiProfile;
  targets: Target[];
};

/** A rate, starred when other work took more than DISTURBED_PERCENT of a core while it was measured. */
const rateOf = (value: number | undefined, cpu: CpuUse | undefined) => `${fmtRate(value)}${cpu && cpu.other > DISTURBED_PERCENT ? "*" : ""}`;

/** Whether any figure of the run is starred. */
function disturbed(results: ApiResults): boolean {
  return results.scenarios.some(({ server, sqlFloor, bareRoute }) =>
    [server.cpu, sqlFloor?.cpu, bareRoute?.cpu].some((cpu) => cpu !== undefined && cpu.other > DISTURBED_PERCENT),
  );
}

const DISTURBED_NOTE =
  `* other work on the machine took more than ${DISTURBED_PERCENT}% of a core during that measurement (column "other CPU", ` +
  "or the floor's own log line): the figure is low by about that share of the machine.";

const ratioOf = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
const pctOrDash = (ratio: number | undefined) => (ratio === undefined ? "–" : pct(ratio));

function serverTable(results: ApiResults): Table {
  const rows = results.scenarios.map(({ label, connections, server }) => [
    label,
    String(connections),
    rateOf(server.rps, server.cpu),
    fmt(server.p50Ms, 1),
    fmt(server.p99Ms, 1),
    fmt(server.non2xx),
    fmt(server.graphqlErrors),
    fmt(server.connectionErrors),
    server.statements ? fmt(server.statements.mean, 2) : "–",
    fmt(server.meanBodyBytes),
    `${fmt(server.cpu.server)}%`,
    fmt(server.cpu.serverMsPerRequest, 2),
    `${fmt(server.cpu.postgres)}%`,
    `${fmt(server.cpu.loadGenerator)}%`,
    `${fmt(server.cpu.other)}%`,
  ]);
  return {
    headers: [
      "scenario",
      "conns",
      "req/s",
      "p50 ms",
      "p99 ms",
      "non-2xx",
      "GraphQL errors",
      "conn errors",
      "SQL/req",
      "body B",
      "server CPU",
      "server ms/req",
      "PG CPU",
      "loadgen CPU",
      "other CPU",
    ],
    rows,
    rightAligned: [false, true, true, true, true, true, true, true, true, true, true, true, true, true, true],
  };
}

function floorTable(results: ApiResults): Table {
  const typename = results.scenarios.find((scenario) => scenario.name === "typename")?.server.rps;
  const rows = results.scenarios.map(({ label, server, sqlFloor, bareRoute }) => {
    const mismatch = sqlFloor && server.statements && Math.abs(sqlFloor.statementsPerRequest - server.statements.mean) > 0.05 ? " (!)" : "";
    return [
      label,
      rateOf(server.rps, server.cpu),
      sqlFloor ? rateOf(sqlFloor.requestsPerSecond, sqlFloor.cpu) : "–",
      sqlFloor ? `${fmt(sqlFloor.statementsPerSecond)} (${fmt(sqlFloor.statementsPerRequest, 2)}/req)${mismatch}` : "–",
      sqlFloor ? `${fmt(sqlFloor.p99Ms, 1)}` : "–",
      bareRoute ? rateOf(bareRoute.rps, bareRoute.cpu) : "–",
      pctOrDash(ratioOf(server.rps, sqlFloor?.requestsPerSecond)),
      pctOrDash(ratioOf(server.rps, bareRoute?.rps)),
      pctOrDash(ratioOf(server.rps, typename)),
    ];
  });
  return {
    headers: [
      "scenario",
      "server req/s",
      "SQL floor req/s",
      "SQL floor stmts/s",
      "floor p99 ms",
      "bare route req/s",
      "÷ SQL floor",
      "÷ bare route",
      "÷ { __typename }",
    ],
    rows,
    rightAligned: [false, true, true, true, true, true, true, true, true],
  };
}

function targetTable(results: ApiResults): Table {
  return {
    headers: ["target (issue 6)", "measured", ""],
    rows: results.targets.map((target) => [target.target, target.measured, target.verdict]),
    rightAligned: [false, false, false],
  };
}

function profileTables(profile: ApiProfile): [Table, Table] {
  return [
    {
      headers: ["self %", "self ms", "function", "where"],
      rows: profile.top.map((entry) => [fmt(entry.percent, 1), fmt(entry.selfMs), entry.function, entry.where]),
      rightAligned: [true, true, false, false],
    },
    {
      headers: ["self %", "package / module"],
      rows: profile.byPackage.map((entry) => [fmt(entry.percent, 1), entry.name]),
      rightAligned: [true, false],
    },
  ];
}

function stormLines(storm: LoginStormResult): string[] {
  return [
    `datasets(first: 20) alone: ${fmt(storm.alone.rps)} req/s, p50 ${fmt(storm.alone.p50Ms, 1)} ms, p99 ${fmt(storm.alone.p99Ms, 1)} ms`,
    `with ${storm.stormLogins} logins in flight: ${fmt(storm.duringStorm.rps)} req/s, p50 ${fmt(storm.duringStorm.p50Ms, 1)} ms, ` +
      `p99 ${fmt(storm.duringStorm.p99Ms, 1)} ms (${fmt(storm.duringStorm.p99Ms / storm.alone.p99Ms, 2)}× alone); ` +
      `logins meanwhile: ${fmtRate(storm.logins.rps)}/s, p50 ${fmt(storm.logins.p50Ms)} ms`,
  ];
}

function memoryLines(memory: MemoryResult): string[] {
  const lines = [`server RSS: ${fmt(memory.startMiB)} MiB at start, ${fmt(memory.afterWarmupMiB)} MiB after every scenario (warm)`];
  if (memory.afterSoakMiB !== undefined && memory.soak) {
    lines.push(
      `after the ${memory.soakSeconds} s mixed soak (${fmt(memory.soak.responses)} requests, ${fmt(memory.soak.rps)} req/s): ` +
        `${fmt(memory.afterSoakMiB)} MiB; every 5 s: ${memory.soakSamplesMiB.map((value) => fmt(value)).join(", ")}`,
    );
  }
  return lines;
}

/** The API part's lines on the terminal at the end of a run (none when it did not run). */
export function apiTerminalSection(results: ApiResults): string[] {
  const parts: string[] = [];
  if (results.loginStorm && results.memory) {
    parts.push(
      `\n== Server (${results.mode} run, ${results.settings.duration})`,
      textTable(serverTable(results)),
      "\n== Floors and ratios",
      textTable(floorTable(results)),
      ...(disturbed(results) ? [DISTURBED_NOTE] : []),
    );
    parts.push("\n== Event loop under a login storm", ...stormLines(results.loginStorm));
    parts.push("\n== Memory", ...memoryLines(results.memory));
  }
  if (results.profile) {
    const [top, packages] = profileTables(results.profile);
    parts.push(
      `\n== CPU profile of the server during datasets + adminDatasets (${fmt(results.profile.busyPercent)}% of samples busy; ${results.profile.file})`,
      textTable(top),
      "",
      textTable(packages),
    );
  }
  if (results.targets.length > 0) parts.push("\n== Targets", textTable(targetTable(results)));
  return parts;
}

/** The API part's section of docs/benchmarks.md: its run, machine, settings, tables and targets. */
export function apiMarkdownSection(results: ApiResults | undefined): string[] {
  if (!results?.loginStorm || !results.memory) return ["## API scenarios", "", "No full run yet.", ""];
  const settings = Object.entries(results.settings).map(([name, value]) => `| ${name} | ${value} |`);
  const lines = [
    `## Latest full run: ${results.date}`,
    "",
    ...codeAndMachineLines(results),
    "| setting | |",
    "|---|---|",
    ...settings,
    "",
    "### Server",
    "",
    markdownTable(serverTable(results)),
    "",
    "p50/p99: latency of each response as the load generator saw it. GraphQL errors: responses whose body has",
    "`errors` (every body is checked). SQL/req: the server's `x-sql-statements` (the viewer check, once a session is in the viewer cache, is none).",
    "Before the scenarios every fixture session makes one request (`primed … sessions` in the log), as a long-running",
    "server has seen its clients' sessions: the numbers are the steady state, not a cold start.",
    `CPU over the measured window, in percent of one core (this machine has ${results.machine.cores}): the server process (bcrypt's`,
    "worker thread included) and its CPU time per response; this run's PostgreSQL backends; the load generator;",
    "and other: the machine's busy time not accounted for by those (other processes, other databases' queries).",
    "On a shared machine req/s moves with whatever else runs; the server's CPU time per response moves much",
    "less, so compare that across runs and commits.",
    ...(disturbed(results) ? ["", DISTURBED_NOTE] : []),
    "",
    "### Floors and ratios",
    "",
    markdownTable(floorTable(results)),
    "",
    "Each scenario's server run is followed at once by its SQL floor and its bare route, so both sides of a ratio",
    "see about the same machine. SQL floor: the scenario's statements (the server's own store functions, `src/*/store.ts`, in its order) through a `pg` pool of",
    `${results.settings.sqlFloorPool} connections (the server's pool size) by ${results.settings.connections} concurrent loops, no HTTP; login's floor leaves out bcrypt. (!) marks a floor`,
    "that runs a different number of statements than the server did. Bare route: Fastify, no plugins, same request,",
    "a JSON body of the server's mean body size. The mix's logins dominate it: 5% of requests at bcrypt cost",
    `${results.settings.bcryptCost} on one hash worker.`,
    "",
  ];
  lines.push("### Event loop under a login storm", "", ...stormLines(results.loginStorm).map((line) => `- ${line}`), "");
  lines.push(
    "### Memory",
    "",
    ...memoryLines(results.memory).map((line) => `- ${line}`),
    "",
    "In the mix, requests wait seconds for bcrypt, so their objects reach V8's old generation, which only a",
    "major GC frees: RSS climbing over one minute is not by itself a leak, nor is a flat one proof of none.",
    "",
  );
  if (results.profile) {
    const [top, packages] = profileTables(results.profile);
    lines.push(
      "### CPU profile",
      "",
      `\`node --cpu-prof\` on the server during datasets(first: 20) and adminDatasets { owner } ` +
        `(${results.profile.underProfiler.map((run) => `${run.label}: ${fmt(run.rps)} req/s under the profiler`).join("; ")}); ` +
        `${fmt(results.profile.busyPercent)}% of samples busy. Self time, of the busy samples:`,
      "",
      markdownTable(top),
      "",
      markdownTable(packages),
      "",
    );
  }
  lines.push("### Targets (issue 6)", "", markdownTable(targetTable(results)), "");
  lines.push(
    "For reference, issue 6's measurements on this machine before any code (wrk, 32 connections): a bare Node",
    "`http` route ~60,000 req/s; pgbench on the datasets page query ~22,000/s; an Apollo Server 5 prototype",
    "`{ __typename }` ~5,700/s, datasets ~2,500/s (p99 21 ms), with owners ~1,600/s (p99 34 ms);",
    "PostGraphile 5 with JWT ~2,800/s and ~2,400/s.",
    "",
  );
  return lines;
}
