/** The live-events part's section: its summary on the terminal, and its part of docs/benchmarks.md. */
import { busyMachineNote, codeAndMachineLines, type RunFacts } from "../harness/facts.js";
import { fmt } from "../harness/format.js";
import type { EventsResult } from "./measure.js";

/** A run's results as far as the live-events part goes. */
export type EventsResults = RunFacts & { events?: EventsResult };

/** The live-events part's lines on the terminal at the end of a run (none when it did not run). */
export function eventsTerminalSection(results: EventsResults): string[] {
  if (!results.events) return [];
  return [
    `\n== Live events (${results.mode} run)`,
    ...eventsSummaryLines(results.events),
    "",
    ...results.events.targets.map((target) => `${target.pass ? "PASS" : "MISS"}  ${target.target}: ${target.measured}`),
  ];
}

/** The live-events part's section of docs/benchmarks.md (its latest full run). */
export function eventsMarkdownSection(results: EventsResults | undefined): string[] {
  if (!results?.events) return ["## Live events", "", "No full run yet.", ""];
  // On a loaded machine latencies are the machine's as much as the server's.
  const busy = busyMachineNote(
    results.machine,
    "The latencies are far from what this machine does idle; the delivery counts and RSS per subscription are the steadier figures.",
  );
  return [...eventsMarkdownLines(results.date, results.events, busy), ...codeAndMachineLines(results), ...EVENTS_METHOD];
}

/** docs/benchmarks.md's lines for this part's figures. */
function eventsMarkdownLines(date: string, results: EventsResult, busyNote: string | undefined): string[] {
  return [
    `## Live events: latest full run, ${date}`,
    "",
    ...(busyNote ? [busyNote, ""] : []),
    "| setting | |",
    "|---|---|",
    ...Object.entries(results.settings).map(([name, value]) => `| ${name} | ${value} |`),
    "",
    ...eventsSummaryLines(results).map((line) => `- ${line}`),
    "",
    "| target (issue 15) | measured |  |",
    "|---|---|---|",
    ...results.targets.map((target) => `| ${target.target} | ${target.measured} | ${target.pass ? "PASS" : "MISS"} |`),
    "",
  ];
}

function eventsSummaryLines(results: EventsResult): string[] {
  const { commits, deliveries, latencyMs, rss, cpu } = results;
  return [
    `${fmt(results.subscriptions)} subscriptions on ${results.connections} connections (${results.users} users)`,
    `${fmt(commits.committed)} of ${fmt(commits.planned)} commits in ${fmt(commits.seconds, 1)} s (${fmt(commits.perSecond, 1)}/s); commit round trip p50 ${fmt(commits.p50Ms, 1)} ms, p99 ${fmt(commits.p99Ms, 1)} ms`,
    `delivery latency, commit to client: p50 ${fmt(latencyMs.p50, 1)} ms, p90 ${fmt(latencyMs.p90, 1)} ms, p99 ${fmt(latencyMs.p99, 1)} ms, max ${fmt(latencyMs.max, 1)} ms`,
    `deliveries: ${fmt(deliveries.received)} of ${fmt(deliveries.expected)} expected; ${deliveries.missing} missing, ${deliveries.duplicates} duplicated, ${deliveries.withoutAccess} to a subscriber without access`,
    `server RSS: ${fmt(rss.beforeMiB)} MiB before the subscriptions, ${fmt(rss.subscribedMiB)} MiB with them open and idle (${fmt(rss.perSubscriptionKiB, 1)} KiB per subscription, its connection's share included), ` +
      `${fmt(rss.probedMiB)} MiB once a probe had reached each, ${fmt(rss.afterMiB)} MiB after the commits (the heap V8 grew for that work; whether any of it stays is not measured here: see the idle figure)`,
    `CPU during the commits, % of one core: server ${fmt(cpu.server)}, PostgreSQL ${fmt(cpu.postgres)}, the benchmark (clients and commits) ${fmt(cpu.loadGenerator)}, other ${fmt(cpu.other)}`,
  ];
}

/** How the live-events part measures (docs/benchmarks.md). */
const EVENTS_METHOD = [
  "The server is its own process (production). Every subscriber is a graphql-ws client over `ws` in the benchmark's",
  "process, one connection per user; a subscription counts as in place once a probe (an UPDATED announced with the",
  "pinned payload) has reached it. Each commit is checked by the server against every subscription it could concern:",
  "the dataset's own, and every all-datasets one (one read per read scope per event); strangers may read none of the",
  "writers' datasets, so any of their events that reaches them is counted as a leak, as is any delivery not expected.",
  "Latency is from the commit's own timestamp (the start of its transaction, on the same machine's clock) to the",
  "client's receipt, so it includes the commit itself; the commit's HTTP round trip is given beside it. RSS per",
  "subscription is the server's RSS with the subscriptions open and the server idle, less before them, over their",
  "number (the connections' own memory included); after the probes and the commits RSS is higher by the heap V8",
  "grew for that work, which this run does not tell apart from memory kept.",
  "",
];
