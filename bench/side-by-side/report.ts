/** The side by side run's section: issue 13's targets, its tables on the terminal, and its part of docs/benchmarks.md. */
import { codeAndMachineLines, type RunFacts } from "../harness/facts.js";
import { fmt, fmtRate, markdownTable, type Table, textTable } from "../harness/format.js";
import type { LoadResult } from "../harness/load.js";
import type { ProfileSummary } from "../harness/profile.js";
import type { SideBySideResult, SideBySideScenarioResult } from "./measure.js";

const errorsOf = (result: LoadResult) => result.non2xx + result.graphqlErrors + result.connectionErrors;

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const serverMs = (results: LoadResult[]) => median(results.map((result) => result.cpu.serverMsPerRequest));

const msPerRequest = (results: LoadResult[]) =>
  `${fmt(serverMs(results), 2)} + ${fmt(median(results.map((result) => result.cpu.postgresMsPerRequest)), 2)}`;

/**
 * B's server CPU per response over A's (medians over the rounds): how many times less CPU A's
 * server spends on one response. On a machine others share it moves far less than req/s.
 */
const cpuRatio = (scenario: SideBySideScenarioResult) =>
  serverMs(scenario.pairs.map((pair) => pair.b)) / serverMs(scenario.pairs.map((pair) => pair.a));

/** Closed loop: each round's ratio, their median, and where each server's CPU went. */
function throughputTable(result: SideBySideResult): Table {
  return {
    headers: [
      "scenario",
      "A req/s",
      "B req/s",
      "A ÷ B each round",
      "median A ÷ B",
      "A ms/req (server + PG)",
      "B ms/req (server + PG)",
      "server ms/req B ÷ A",
      "load avg",
      "errors",
    ],
    rightAligned: [false, true, true, false, true, true, true, true, false, true],
    rows: result.scenarios.map((scenario) => [
      scenario.label,
      fmtRate(scenario.medianA),
      fmtRate(scenario.medianB),
      scenario.pairs.map((pair) => fmt(pair.ratio, 2)).join(" "),
      `**${fmt(scenario.medianRatio, 2)}**`,
      msPerRequest(scenario.pairs.map((pair) => pair.a)),
      msPerRequest(scenario.pairs.map((pair) => pair.b)),
      fmt(cpuRatio(scenario), 2),
      scenario.pairs.map((pair) => fmt(pair.loadAverage, 1)).join(" "),
      fmt(scenario.pairs.reduce((sum, pair) => sum + errorsOf(pair.a) + errorsOf(pair.b), 0)),
    ]),
  };
}

/** Fixed rate: each server's median p50 and p99 over the rounds. */
function fixedRateTable(result: SideBySideResult): Table {
  const rows = result.scenarios
    .filter((scenario): scenario is SideBySideScenarioResult & { fixedRate: NonNullable<SideBySideScenarioResult["fixedRate"]> } =>
      Boolean(scenario.fixedRate),
    )
    .map((scenario) => {
      const pairs = scenario.fixedRate.pairs;
      const of = (side: "a" | "b", key: "p50Ms" | "p99Ms") => median(pairs.map((pair) => pair[side][key]));
      return [
        scenario.label,
        fmt(scenario.fixedRate.rate),
        fmt(of("a", "p50Ms"), 1),
        fmt(of("a", "p99Ms"), 1),
        fmt(of("b", "p50Ms"), 1),
        fmt(of("b", "p99Ms"), 1),
        pairs.map((pair) => fmt(pair.a.p99Ms / pair.b.p99Ms, 2)).join(" "),
        pairs.map((pair) => fmt(pair.loadAverage, 1)).join(" "),
        fmt(pairs.reduce((sum, pair) => sum + errorsOf(pair.a) + errorsOf(pair.b), 0)),
      ];
    });
  return {
    headers: ["scenario", "rate req/s", "A p50 ms", "A p99 ms", "B p50 ms", "B p99 ms", "A p99 ÷ B p99 each round", "load avg", "errors"],
    rightAligned: [false, true, true, true, true, true, false, false, true],
    rows,
  };
}

/** A run's results as far as a side by side run goes (with issue 13's targets when B was PostGraphile). */
export type SideBySideResults = RunFacts & { sideBySide?: SideBySideResult & { targets: SideBySideTarget[] } };

export interface SideBySideTarget {
  target: string;
  measured: string;
  verdict: "ok" | "MISSED";
}

/** Issue 13's bar against PostGraphile: 1.5× its requests/s on both list scenarios, a lower p99 at half its capacity, 0 errors. */
export function sideBySideTargets(result: SideBySideResult): SideBySideTarget[] {
  const targets: SideBySideTarget[] = [];
  for (const name of ["datasets", "adminDatasets"] as const) {
    const scenario = result.scenarios.find((entry) => entry.name === name);
    if (!scenario) continue;
    targets.push({
      target: `${scenario.label}: ≥ 1.5× PostGraphile's req/s (median of the rounds' ratios)`,
      measured:
        `${fmt(scenario.medianRatio, 2)} (server CPU per response: A ${fmt(serverMs(scenario.pairs.map((pair) => pair.a)), 2)} ms, ` +
        `B ${fmt(serverMs(scenario.pairs.map((pair) => pair.b)), 2)} ms, B ÷ A ${fmt(cpuRatio(scenario), 2)})`,
      verdict: scenario.medianRatio >= 1.5 ? "ok" : "MISSED",
    });
    if (scenario.fixedRate) {
      const a = median(scenario.fixedRate.pairs.map((pair) => pair.a.p99Ms));
      const b = median(scenario.fixedRate.pairs.map((pair) => pair.b.p99Ms));
      targets.push({
        target: `${scenario.label} at ${fmt(scenario.fixedRate.rate)} req/s (half PostGraphile's): p99 below PostGraphile's`,
        measured: `${fmt(a, 1)} against ${fmt(b, 1)} ms`,
        verdict: a < b ? "ok" : "MISSED",
      });
    }
  }
  const errors = result.scenarios.reduce(
    (sum, scenario) =>
      sum +
      scenario.pairs.reduce((count, pair) => count + errorsOf(pair.a) + errorsOf(pair.b), 0) +
      (scenario.fixedRate?.pairs.reduce((count, pair) => count + errorsOf(pair.a) + errorsOf(pair.b), 0) ?? 0),
    0,
  );
  targets.push({ target: "0 errors", measured: fmt(errors), verdict: errors === 0 ? "ok" : "MISSED" });
  return targets;
}

function targetsTable(targets: readonly SideBySideTarget[]): Table {
  return {
    headers: ["target (issue 13)", "measured", ""],
    rightAligned: [false, false, false],
    rows: targets.map((target) => [target.target, target.measured, target.verdict]),
  };
}

/** What A and B were, and how they were measured. */
function sideBySideSetup(result: SideBySideResult): string[] {
  return [
    `A: ${result.a.name} on Node ${result.a.node}. B: ${result.b.name} on Node ${result.b.node}${result.b.variant ? ` (${result.b.variant})` : ""}.`,
    `${result.rounds} rounds per scenario, A then B, each ${result.duration} with autocannon, ${result.connections} connections, ` +
      `then ${result.rateRounds} rounds of each at a fixed rate of half B's median req/s (an open-loop generator, latency from when each request was due, ${result.connections} connections).`,
  ];
}

const SIDE_BY_SIDE_METHOD = [
  "Both servers run the whole time on the same seeded schema (1,000 users, 100,000 datasets) and the same PostgreSQL,",
  "and get the same tokens (HS256, verified by each on every request). A ÷ B is each round's pair of adjacent runs;",
  "on this shared 2-core machine absolute req/s move by 15% or more from minute to minute, so quote the median ratio.",
  "ms/req: each server process's CPU time per response, and its PostgreSQL backends' (medians over the rounds);",
  "`server ms/req B ÷ A`: how many times less CPU A's server process spends per response (the steadier figure here).",
  "The load generator runs on the same machine and takes CPU from both alike. `load avg`: the 1-minute load average as each pair started.",
];

/** A profile's top functions and packages, side by side in one table. */
function profileTable(summary: ProfileSummary, rows = 15): Table {
  return {
    headers: ["self %", "function", "where", "", "self %", "package / module"],
    rightAligned: [true, false, false, false, true, false],
    rows: Array.from({ length: Math.max(Math.min(rows, summary.top.length), summary.byPackage.length) }, (_, index) => {
      const entry = summary.top[index];
      const pkg = summary.byPackage[index];
      return [entry ? fmt(entry.percent, 1) : "", entry?.function ?? "", entry?.where ?? "", "", pkg ? fmt(pkg.percent, 1) : "", pkg?.name ?? ""];
    }),
  };
}

/** A side by side run's lines on the terminal at the end (none when it was not one). */
export function sideBySideTerminalSection(results: SideBySideResults): string[] {
  const { sideBySide } = results;
  if (!sideBySide) return [];
  const parts = [
    `\n== Side by side (${results.mode} run)`,
    ...sideBySideSetup(sideBySide),
    "",
    textTable(throughputTable(sideBySide)),
    "",
    textTable(fixedRateTable(sideBySide)),
    ...(sideBySide.targets.length > 0 ? ["", textTable(targetsTable(sideBySide.targets))] : []),
  ];
  for (const profile of sideBySide.profiles ?? []) {
    parts.push(
      `\n== Profile of A during ${profile.label} (${fmt(profile.rps)} req/s under the profiler, ${fmt(profile.summary.busyPercent)}% of samples busy; ${profile.summary.file})`,
      textTable(profileTable(profile.summary)),
    );
  }
  return parts;
}

/**
 * A side by side run's section of docs/benchmarks.md (its latest full run): against
 * PostGraphile (`--peer`), or against another setting or build of this server (`--versus`);
 * none when there is no such run yet.
 */
export function sideBySideMarkdownSection(results: SideBySideResults | undefined): string[] {
  const sideBySide = results?.sideBySide;
  if (!results || !sideBySide) return [];
  const peer = results.parts?.includes("peer") ?? false;
  const title = peer ? "Side by side with PostGraphile 5" : `This server against itself: ${sideBySide.b.variant}`;
  const flag = peer ? "--peer postgraphile" : `--versus '${sideBySide.b.variant}'`;
  return [
    `## ${title}: latest full run, ${results.date}`,
    "",
    `\`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- ${flag}\` (add \`--rounds 3 --seconds 5\` for a short run` +
      (peer ? "; `--ours node=machine` runs this server on the machine's own Node rather than PostGraphile's Node 22)." : ")."),
    "",
    ...codeAndMachineLines(results),
    ...sideBySideSetup(sideBySide),
    "",
    "### Requests per second, closed loop",
    "",
    markdownTable(throughputTable(sideBySide)),
    "",
    ...SIDE_BY_SIDE_METHOD,
    "",
    "### Latency at a fixed rate (half B's capacity)",
    "",
    markdownTable(fixedRateTable(sideBySide)),
    "",
    ...(sideBySide.targets.length > 0 ? ["### Targets (issue 13)", "", markdownTable(targetsTable(sideBySide.targets)), ""] : []),
  ];
}
