/** The tables part's targets (issue 23) and its section: lines on the terminal, and its part of docs/benchmarks.md. */
import { busyMachineNote, codeAndMachineLines, type RunFacts } from "../harness/facts.js";
import { fmt } from "../harness/format.js";
import type { TablesResult } from "./measure.js";

export interface TablesTarget {
  target: string;
  measured: string;
  met: boolean;
}

/** The tables part's results with its targets judged. */
export type TablesReport = TablesResult & { targets: TablesTarget[] };

/** A run's results as far as the tables part goes. */
export type TablesResults = RunFacts & { tables?: TablesReport };

/** Issue 23's figures. */
export const TABLES_TARGETS = { firstPageP50Ms: 300, nextPageP50Ms: 100, typenameP99Ms: 50, jobToSummarize: 2 } as const;

const ms = (value: number) => `${fmt(value, 1)} ms`;

export function evaluateTablesTargets(tables: TablesResult): TablesTarget[] {
  const { firstPages, nextPages, typenameDuringPaging, paging } = tables;
  const pagingErrors = paging.errors + typenameDuringPaging.non2xx + typenameDuringPaging.graphqlErrors + typenameDuringPaging.connectionErrors;
  const peak = Math.max(0, ...tables.readers.map((reader) => reader.peakMiB));
  const ratio = tables.jobSeconds / tables.summarizeSeconds;
  return [
    {
      target: `first page of a filtered, sorted query p50 < ${TABLES_TARGETS.firstPageP50Ms} ms`,
      measured: `p50 ${ms(firstPages.p50Ms)}, p99 ${ms(firstPages.p99Ms)} over ${firstPages.count} queries`,
      met: firstPages.p50Ms < TABLES_TARGETS.firstPageP50Ms,
    },
    {
      target: `next pages through after p50 < ${TABLES_TARGETS.nextPageP50Ms} ms`,
      measured: `p50 ${ms(nextPages.p50Ms)}, p99 ${ms(nextPages.p99Ms)} over ${nextPages.count} pages`,
      met: nextPages.p50Ms < TABLES_TARGETS.nextPageP50Ms,
    },
    {
      target: `{ __typename } p99 < ${TABLES_TARGETS.typenameP99Ms} ms while ${paging.clients} clients page through the table`,
      measured:
        `p99 ${ms(typenameDuringPaging.p99Ms)} (${ms(tables.typenameAlone.p99Ms)} alone); their pages p50 ${ms(paging.pages.p50Ms)}, p99 ${ms(paging.pages.p99Ms)}` +
        (pagingErrors > 0 ? `; ${pagingErrors} errors` : ""),
      met: typenameDuringPaging.p99Ms < TABLES_TARGETS.typenameP99Ms && pagingErrors === 0,
    },
    {
      target: `table readers' peak RSS within TABLE_READER_MEMORY_LIMIT (${fmt(tables.readerMemoryLimitMiB)} MiB)`,
      measured:
        tables.readers.length > 0
          ? `${tables.readers.map((reader) => `${fmt(reader.peakMiB)} MiB`).join(", ")} (whole process, VmHWM)`
          : "no reader seen",
      met: tables.readers.length > 0 && peak <= tables.readerMemoryLimitMiB,
    },
    {
      target: `profiles (the job: conversion and every column's profile) ≤ ${TABLES_TARGETS.jobToSummarize}× DuckDB's own SUMMARIZE`,
      measured: `${fmt(tables.jobSeconds, 2)} s vs ${fmt(tables.summarizeSeconds, 2)} s: ×${fmt(ratio, 2)}`,
      met: ratio <= TABLES_TARGETS.jobToSummarize,
    },
  ];
}

function summaryLines(tables: TablesReport): string[] {
  return [
    `${fmt(tables.rowCount)} rows, ${fmt(tables.bytes / 1e6)} MB of CSV; conversion and profiles (one job, commit → table readable) ${fmt(tables.jobSeconds, 2)} s, DuckDB's SUMMARIZE ${fmt(tables.summarizeSeconds, 2)} s`,
    `cold first page (a reader starts) ${ms(tables.coldFirstPageMs)}`,
    `first pages: p50 ${ms(tables.firstPages.p50Ms)}, p99 ${ms(tables.firstPages.p99Ms)}, max ${ms(tables.firstPages.maxMs)} (${tables.firstPages.count} queries matching ${fmt(tables.firstPages.matchedMin)} to ${fmt(tables.firstPages.matchedMax)} rows)`,
    `next pages: p50 ${ms(tables.nextPages.p50Ms)}, p99 ${ms(tables.nextPages.p99Ms)}, max ${ms(tables.nextPages.maxMs)} (${tables.nextPages.count} pages)`,
    `{ __typename } alone p50 ${ms(tables.typenameAlone.p50Ms)}, p99 ${ms(tables.typenameAlone.p99Ms)}; while ${tables.paging.clients} clients page: p50 ${ms(tables.typenameDuringPaging.p50Ms)}, p99 ${ms(tables.typenameDuringPaging.p99Ms)}`,
    `the paging clients' ${tables.paging.pages.count} pages: first pages p50 ${ms(tables.paging.firstPages.p50Ms)}, p99 ${ms(tables.paging.firstPages.p99Ms)}; next pages p50 ${ms(tables.paging.nextPages.p50Ms)}, p99 ${ms(tables.paging.nextPages.p99Ms)}; ${tables.paging.errors} errors` +
      (tables.paging.firstError ? ` (first: ${tables.paging.firstError})` : ""),
    `table readers' peak RSS: ${tables.readers.map((reader) => `${fmt(reader.peakMiB)} MiB`).join(", ") || "none seen"} (TABLE_READER_MEMORY_LIMIT ${fmt(tables.readerMemoryLimitMiB)} MiB)`,
  ];
}

/** The tables part's lines on the terminal at the end of a run (none when it did not run). */
export function tablesTerminalSection(results: TablesResults): string[] {
  const { tables } = results;
  if (!tables) return [];
  return [
    `\n== Tables (${results.mode} run)`,
    ...summaryLines(tables),
    "",
    ...tables.targets.map((target) => `target ${target.target}: ${target.measured} (${target.met ? "met" : "missed"})`),
  ];
}

/** The tables part's section of docs/benchmarks.md (its latest full run). */
export function tablesMarkdownSection(results: TablesResults | undefined): string[] {
  const tables = results?.tables;
  if (!results || !tables) return ["## Tables", "", "No full run yet.", ""];
  const busy = busyMachineNote(results.machine, "Every latency is the machine's as much as the server's.");
  return [
    "## Tables",
    "",
    `Latest full run, ${results.date}: \`DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench -- --only tables\`${results.mode === "quick" ? " (--quick)" : ""}.`,
    "",
    ...(busy ? [busy, ""] : []),
    ...codeAndMachineLines(results),
    "| setting | |",
    "|---|---|",
    ...Object.entries(tables.settings).map(([name, value]) => `| ${name} | ${value} |`),
    "",
    ...summaryLines(tables).map((line) => `- ${line}`),
    "",
    "| target (issue 23) | measured |  |",
    "|---|---|---|",
    ...tables.targets.map((target) => `| ${target.target} | ${target.measured} | ${target.met ? "met" : "missed"} |`),
    "",
    ...TABLES_METHOD,
  ];
}

/** How the tables part measures (docs/benchmarks.md). */
const TABLES_METHOD = [
  "The server is its own process (production), its table readers its children; the clients are in the benchmark's",
  "process, each page timed from its request to its parsed answer over loopback. The file goes up through tus and is",
  "committed like any other; the job's time runs from the commit's answer until `table` is no longer null, so it holds",
  "the reader process's start, the conversion of the CSV into the columnar copy, the counts, the first rows, every column's",
  "profile and storing the result. DuckDB's `SUMMARIZE` beside it parses the same CSV with the job's threads and memory",
  "limit and computes approximate distinct counts and quartiles, where the job's profiles are exact. Every measured",
  "query has a filter value no other query of the run has, so nothing cached answers one from another. The readers'",
  "peak is each whole process's VmHWM (Node and DuckDB's library included), read from /proc while the part runs.",
  "",
];
