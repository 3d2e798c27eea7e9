/**
 * Two servers in one run (issue 13): the project's server (A) and either PostGraphile 5 or
 * another build or setting of the project's server (B), both started over the same seeded
 * schema and kept running, measured scenario by scenario in turns, A B A B …, each run after
 * the same warm-up with the same load generator and connections. On a machine others share,
 * absolute figures move by 15% or more between minutes; the ratio of each adjacent pair
 * moves much less, so that is what is reported, with the median of the pairs.
 *
 * After a scenario's closed-loop rounds, both are run at a fixed rate of half B's measured
 * capacity (side-by-side/fixed-rate.ts), for the latency a user sees when the server is not
 * saturated.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { loadavg } from "node:os";
import { promisify } from "node:util";
import type { Watched } from "../harness/cpu.js";
import { fmt, fmtRate } from "../harness/format.js";
import { log } from "../harness/lifecycle.js";
import { type HttpRequest, type LoadResult, runLoad } from "../harness/load.js";
import { type BenchOptions, MACHINE_NODE, type ServerVariant, type SideBySideOptions } from "../harness/options.js";
import { fileStamp, ROOT } from "../harness/paths.js";
import { primeSessions } from "../harness/priming.js";
import { type ChildServer, startApiServer } from "../harness/processes.js";
import { mainThreadProfile, type ProfileSummary, summariseProfile } from "../harness/profile.js";
import type { BenchRun } from "../harness/run.js";
import { runFixedRate } from "./fixed-rate.js";
import { findPeerSource, installPeer, peerNodeVersion, startPeerServer } from "./postgraphile.js";
import { listedRows, type SideBySideName, sideBySideScenarios } from "./scenarios.js";
const execFileAsync = promisify(execFile);

export interface SideBySidePair {
  a: LoadResult;
  b: LoadResult;
  /** A's requests/s over B's. */
  ratio: number;
  /** The 1-minute load average when the pair started. */
  loadAverage: number;
}

export interface FixedRatePair {
  a: LoadResult & { rate: number };
  b: LoadResult & { rate: number };
  loadAverage: number;
}

export interface SideBySideScenarioResult {
  name: SideBySideName;
  label: string;
  pairs: SideBySidePair[];
  medianRatio: number;
  /** Each server's median requests/s over its rounds. */
  medianA: number;
  medianB: number;
  fixedRate?: { rate: number; pairs: FixedRatePair[] };
}

export interface SideBySideResult {
  /** What A and B were. */
  a: { name: string; node: string; variant: string };
  b: { name: string; node: string; variant: string; version?: string };
  rounds: number;
  duration: string;
  rateRounds: number;
  connections: number;
  scenarios: SideBySideScenarioResult[];
  /** With --profile: A again under `node --cpu-prof`, each list scenario's window of the profile. */
  profiles?: Array<{ name: SideBySideName; label: string; rps: number; summary: ProfileSummary }>;
}

interface Contender {
  name: string;
  server: ChildServer;
  watch: Watched;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** A side by side run's settings, as the results record them. */
export function sideBySideSettings(options: BenchOptions, result: SideBySideResult): Record<string, string | number> {
  return {
    rounds: result.rounds,
    duration: result.duration,
    rateRounds: result.rateRounds,
    connections: options.connections,
    serverPool: "default (10); PostGraphile's: 10",
    environment: "NODE_ENV=production LOG_LEVEL=warn EXPOSE_STATEMENT_COUNT=true, throttle limits raised",
    loadGenerator: "autocannon 8 (closed loop) and bench/side-by-side/fixed-rate.ts (open loop) in the benchmark's process, same machine",
  };
}

/** A or B as the project's server with `variant`'s environment, node options, node and checkout. */
function startOurs(run: BenchRun, variant: ServerVariant, cpuProfileDir?: string): Promise<ChildServer> {
  return startApiServer({
    databaseUrl: run.database.url,
    jwtSecret: run.jwtSecret,
    bcryptCost: run.options.bcryptCost,
    environment: variant.environment,
    nodeOptions: variant.nodeOptions,
    ...(variant.checkout ? { checkout: variant.checkout } : {}),
    ...(variant.node ? { node: variant.node } : {}),
    ...(cpuProfileDir ? { cpuProfileDir } : {}),
  });
}

/**
 * The node A runs on. Against PostGraphile it is the peer's own Node 22 unless `--ours` names
 * one (`node=machine`: the benchmark's own node, the machine's Node 20), so that the two are
 * compared on the same Node by default; against another variant, as `--ours` says.
 */
function oursOn(variant: ServerVariant, peerNode: string | undefined): ServerVariant {
  if (variant.node === MACHINE_NODE) return { ...variant, node: process.execPath };
  if (variant.node === undefined && peerNode) return { ...variant, node: peerNode };
  return variant;
}

/** `node --version` of the node a variant runs on, its path and its options. */
async function nodeOf(variant: ServerVariant): Promise<string> {
  const binary = variant.node === MACHINE_NODE || variant.node === undefined ? process.execPath : variant.node;
  const version = binary === process.execPath ? process.version : (await execFileAsync(binary, ["--version"])).stdout.trim();
  return [`${version} (${binary})`, ...variant.nodeOptions].join(" ");
}

const describeVariant = (name: string, variant: ServerVariant) => (variant.label ? `${name} (${variant.label})` : name);

export async function measureSideBySide(run: BenchRun, sideBySide: SideBySideOptions): Promise<SideBySideResult> {
  const { database, fixtures, options } = run;
  const againstPeer = sideBySide.against.kind === "postgraphile";
  const scenarios = sideBySideScenarios(fixtures, !againstPeer).filter(
    (scenario) => !sideBySide.scenarios || sideBySide.scenarios.includes(scenario.name),
  );
  if (scenarios.length === 0) throw new Error(`--scenarios: none of ${sideBySide.scenarios?.join(", ")} is a scenario here`);
  const watch = (server: ChildServer): Watched => ({ serverPid: server.pid, postgresPids: database.backendPids });

  const installation = againstPeer ? await installPeer(findPeerSource(process.env), process.env) : undefined;
  const oursVariant = oursOn(sideBySide.ours, installation?.node);
  const ours = await startOurs(run, oursVariant);
  const a: Contender = { name: describeVariant("this server", sideBySide.ours), server: ours, watch: watch(ours) };
  let b: Contender;
  let bFacts: SideBySideResult["b"];
  if (installation) {
    const peer = await startPeerServer({
      installation,
      databaseUrl: database.url,
      schema: database.schema,
      jwtSecret: run.jwtSecret,
      token: fixtures.readers[0]!.token,
    });
    const node = await peerNodeVersion(installation);
    b = { name: "PostGraphile", server: peer, watch: watch(peer) };
    bFacts = {
      name: `PostGraphile ${installation.version}`,
      node,
      variant: "Amber preset, simplify-inflection, jose in its context",
      version: installation.version,
    };
  } else {
    const against = sideBySide.against;
    if (against.kind !== "variant") throw new Error("side by side: PostGraphile was asked for but not installed");
    const variant = oursOn(against, undefined);
    const other = await startOurs(run, variant);
    b = { name: describeVariant("this server", variant), server: other, watch: watch(other) };
    bFacts = {
      name: b.name,
      node: await nodeOf(variant),
      variant: variant.label,
    };
  }
  const aNode = await nodeOf(oursVariant);
  log(`A: ${a.name} on Node ${aNode}, pid ${a.server.pid} on ${a.server.origin}`);
  log(`B: ${bFacts.name} on Node ${bFacts.node}, pid ${b.server.pid} on ${b.server.origin}`);

  const requestsOf = (contender: Contender, scenario: (typeof scenarios)[number]): HttpRequest[] =>
    contender === a || !againstPeer ? scenario.ours : scenario.postgraphile!;
  await preflight(scenarios, [a, b], requestsOf);
  await primeSessions(a.server.origin, fixtures);
  if (!againstPeer) await primeSessions(b.server.origin, fixtures);

  const { connections } = options;
  const results: SideBySideScenarioResult[] = [];
  log(
    `\n== Side by side: A ${a.name} against B ${b.name}; ${sideBySide.rounds} rounds of ` +
      `${sideBySide.phase.warmupSeconds} s warm-up + ${sideBySide.phase.seconds} s each, ${connections} connections`,
  );
  for (const scenario of scenarios) {
    const pairs: SideBySidePair[] = [];
    for (let round = 0; round < sideBySide.rounds; round += 1) {
      const loadAverage = loadavg()[0]!;
      const measure = async (contender: Contender) => {
        await run.settle();
        const requests = requestsOf(contender, scenario);
        return runLoad({ origin: contender.server.origin, watch: contender.watch, requests, connections, ...sideBySide.phase });
      };
      const aResult = await measure(a);
      const bResult = await measure(b);
      const pair = { a: aResult, b: bResult, ratio: aResult.rps / bResult.rps, loadAverage };
      pairs.push(pair);
      log(pairLine(`${scenario.label} #${round + 1}`, pair));
    }
    const result: SideBySideScenarioResult = {
      name: scenario.name,
      label: scenario.label,
      pairs,
      medianRatio: median(pairs.map((pair) => pair.ratio)),
      medianA: median(pairs.map((pair) => pair.a.rps)),
      medianB: median(pairs.map((pair) => pair.b.rps)),
    };
    log(`  ${scenario.label}: median ratio ${fmt(result.medianRatio, 2)} (A ${fmtRate(result.medianA)}, B ${fmtRate(result.medianB)} req/s)`);

    if (sideBySide.rateRounds > 0) {
      const rate = Math.max(1, Math.round(result.medianB / 2));
      const ratePairs: FixedRatePair[] = [];
      for (let round = 0; round < sideBySide.rateRounds; round += 1) {
        const loadAverage = loadavg()[0]!;
        const measure = async (contender: Contender) => {
          await run.settle();
          return runFixedRate({
            origin: contender.server.origin,
            watch: contender.watch,
            requests: requestsOf(contender, scenario),
            connections,
            rate,
            ...sideBySide.ratePhase,
          });
        };
        const pair = { a: await measure(a), b: await measure(b), loadAverage };
        ratePairs.push(pair);
        log(
          `  at ${fmt(rate)} req/s #${round + 1}: A p50 ${fmt(pair.a.p50Ms, 1)} p99 ${fmt(pair.a.p99Ms, 1)} ms, ` +
            `B p50 ${fmt(pair.b.p50Ms, 1)} p99 ${fmt(pair.b.p99Ms, 1)} ms${errorNote(pair.a, "A")}${errorNote(pair.b, "B")}`,
        );
      }
      result.fixedRate = { rate, pairs: ratePairs };
    }
    results.push(result);
  }
  await a.server.stop();
  await b.server.stop();
  const profiles = options.profile ? await profileScenarios(run, oursVariant, sideBySide, scenarios) : undefined;
  return {
    ...(profiles ? { profiles } : {}),
    a: {
      name: a.name,
      node: aNode,
      variant: sideBySide.ours.label,
    },
    b: bFacts,
    rounds: sideBySide.rounds,
    duration: `${sideBySide.phase.warmupSeconds} s warm-up + ${sideBySide.phase.seconds} s`,
    rateRounds: sideBySide.rateRounds,
    connections,
    scenarios: results,
  };
}

function errorNote(result: LoadResult, side: string): string {
  const problems = result.non2xx + result.graphqlErrors + result.connectionErrors;
  return problems
    ? `  !! ${side}: ${result.non2xx} non-2xx, ${result.graphqlErrors} GraphQL errors, ${result.connectionErrors} connection errors; first: ${result.firstError ?? "?"}`
    : "";
}

function pairLine(label: string, pair: SideBySidePair): string {
  const side = (result: LoadResult) =>
    `${fmtRate(result.rps).padStart(6)} req/s p99 ${fmt(result.p99Ms, 1).padStart(5)} ms (${fmt(result.cpu.serverMsPerRequest, 2)} + PG ${fmt(result.cpu.postgresMsPerRequest, 2)} ms/req)`;
  return (
    `  ${label.padEnd(34)} A ${side(pair.a)}  B ${side(pair.b)}  ratio ${fmt(pair.ratio, 2)}  load ${fmt(pair.loadAverage, 1)}` +
    errorNote(pair.a, "A") +
    errorNote(pair.b, "B")
  );
}

/**
 * One request of each scenario on each server, before any load: a broken one stops the run.
 * For the lists, both must answer the same rows in the same order (and the same count).
 */
async function preflight(
  scenarios: ReturnType<typeof sideBySideScenarios>,
  contenders: Contender[],
  requestsOf: (contender: Contender, scenario: ReturnType<typeof sideBySideScenarios>[number]) => HttpRequest[],
): Promise<void> {
  for (const scenario of scenarios) {
    const answers: Array<ReturnType<typeof listedRows>> = [];
    for (const contender of contenders) {
      const request = requestsOf(contender, scenario)[0]!;
      const response = await fetch(`${contender.server.origin}${request.path}`, { method: "POST", headers: request.headers, body: request.body });
      const text = await response.text();
      let body: { data?: unknown; errors?: unknown } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // reported below
      }
      if (response.status !== 200 || body.errors !== undefined || body.data == null) {
        throw new Error(`preflight: ${contender.name}, ${scenario.name} answered HTTP ${response.status}: ${text.slice(0, 500)}`);
      }
      answers.push(listedRows(body));
    }
    const [first, second] = answers;
    if (first && JSON.stringify(first) !== JSON.stringify(second)) {
      throw new Error(`preflight: ${scenario.name}: the two servers answered different rows: ${JSON.stringify(answers).slice(0, 800)}`);
    }
  }
  log("preflight ok: every scenario answered by both, the lists with the same rows");
}

/**
 * A (the project's server, as `--ours` says) under `node --cpu-prof`, each scenario but
 * `{ __typename }` in turn for one round, then the main thread's self time within each
 * scenario's measured window: where one request of that scenario spends its time.
 */
async function profileScenarios(
  run: BenchRun,
  ours: ServerVariant,
  sideBySide: SideBySideOptions,
  scenarios: ReturnType<typeof sideBySideScenarios>,
): Promise<NonNullable<SideBySideResult["profiles"]>> {
  const directory = `${ROOT}bench/profiles/${fileStamp(new Date().toISOString())}-side-by-side`;
  await mkdir(directory, { recursive: true });
  log(`\n== Profile: A under node --cpu-prof (${directory.slice(ROOT.length)})`);
  const server = await startOurs(run, ours, directory);
  await primeSessions(server.origin, run.fixtures);
  const windows: Array<{ name: SideBySideName; label: string; rps: number; from: number; to: number }> = [];
  for (const scenario of scenarios.filter((entry) => entry.name !== "typename")) {
    await run.settle();
    const from = performance.now() + sideBySide.phase.warmupSeconds * 1000;
    const measured = await runLoad({
      origin: server.origin,
      watch: { serverPid: server.pid },
      requests: scenario.ours,
      connections: run.options.connections,
      ...sideBySide.phase,
    });
    windows.push({ name: scenario.name, label: scenario.label, rps: measured.rps, from, to: performance.now() });
    log(`  ${scenario.label} (profiled): ${fmtRate(measured.rps)} req/s`);
  }
  await server.stop();
  const exited = performance.now();
  const file = mainThreadProfile(await readdir(directory));
  if (!file) throw new Error(`the profiled server wrote no main-thread .cpuprofile into ${directory}`);
  const profiles: NonNullable<SideBySideResult["profiles"]> = [];
  for (const window of windows) {
    const summary = await summariseProfile(`${directory}/${file}`, {
      fromSecondsBeforeEnd: (exited - window.from) / 1000,
      toSecondsBeforeEnd: (exited - window.to) / 1000,
    });
    profiles.push({ name: window.name, label: window.label, rps: window.rps, summary: { ...summary, file: summary.file.slice(ROOT.length) } });
  }
  return profiles;
}
