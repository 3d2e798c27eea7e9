/**
 * A run's combined results: their shape (the JSON in bench/results/), the report on the
 * terminal and docs/benchmarks.md, each put together from the parts' own sections
 * (<part>/report.ts) in a fixed order.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { type ApiResults, apiMarkdownSection, apiTerminalSection } from "./api/report.js";
import { type CatalogResults, catalogMarkdownSection, catalogTerminalSection } from "./catalog/report.js";
import { eventsMarkdownSection, type EventsResults, eventsTerminalSection } from "./events/report.js";
import { filesMarkdownSection, type FilesResults, filesTerminalSection } from "./files/report.js";
import type { BenchPart } from "./harness/options.js";
import { fileStamp, ROOT } from "./harness/paths.js";
import { previewsMarkdownSection, type PreviewsResults, previewsTerminalSection } from "./previews/report.js";
import { sideBySideMarkdownSection, type SideBySideResults, sideBySideTerminalSection } from "./side-by-side/report.js";
import { tablesMarkdownSection, type TablesResults, tablesTerminalSection } from "./tables/report.js";

/** Everything a run measured: the run's facts, and each part's figures (absent, or empty, for a part that did not run). */
export type BenchResults = ApiResults & FilesResults & PreviewsResults & EventsResults & TablesResults & CatalogResults & SideBySideResults;

/** What goes to the terminal at the end: each part that ran, its own section. */
export function terminalReport(results: BenchResults): string {
  return [
    ...sideBySideTerminalSection(results),
    ...apiTerminalSection(results),
    ...filesTerminalSection(results),
    ...eventsTerminalSection(results),
    ...previewsTerminalSection(results),
    ...tablesTerminalSection(results),
    ...catalogTerminalSection(results),
  ].join("\n");
}

/** docs/benchmarks.md: the latest full run of each part, each part's own section (which may come from different runs). */
export function markdownReport(latest: Partial<Record<BenchPart, BenchResults>>): string {
  const lines = [
    "# Benchmarks",
    "",
    "`npm run bench` (needs `DATABASE_URL` on PostgreSQL; `-- --quick` for a short run, `-- --profile` to add a CPU profile,",
    "`-- --only api`, `files`, `previews`, `events`, `tables` or `catalog` for one part) seeds a throw-away schema, starts the real server as a child process",
    "in production mode, and drives it over loopback: the GraphQL scenarios with autocannon, beside their floors in the",
    "same run (the same SQL through a `pg` pool with no HTTP, a bare Fastify route answering a body of the same size, and",
    "the server's own `{ __typename }`); then files through tus and the download route, beside the same bytes piped",
    "from file to file in Node; then previews of a generated CSV and its Parquet beside DuckDB's own scan; then live events,",
    "1,000 graphql-ws subscriptions while versions are committed at 50/s; then a 200 MB table explored through `FileTable.rows`",
    "(first and next pages, `{ __typename }` while clients page, the readers' memory) and profiled beside DuckDB's own `SUMMARIZE`; then the public catalog, anonymous first pages",
    "with their facets over 20,000 public datasets of the 100,000, beside their statements' plans.",
    "The load generator runs on the same machine, so it takes CPU from the server, as wrk",
    "did for the figures in issue 6.",
    "This file is written by the latest full run of each part; their JSON is in `bench/results/`.",
    "`-- --peer postgraphile` measures this server beside PostGraphile 5 in one run, and `-- --versus '…'` beside",
    "another setting or build of itself (both below).",
    "",
    ...sideBySideMarkdownSection(latest.peer),
    ...apiMarkdownSection(latest.api),
    ...filesMarkdownSection(latest.files),
    ...previewsMarkdownSection(latest.previews),
    ...eventsMarkdownSection(latest.events),
    ...tablesMarkdownSection(latest.tables),
    ...catalogMarkdownSection(latest.catalog),
    ...sideBySideMarkdownSection(latest.versus),
  ];
  return lines.join("\n");
}

/**
 * The JSON into bench/results/ (`<date>[-quick][-<part>].json`); after a full run, also
 * docs/benchmarks.md, from this run and, for a part it did not run, the latest full run that did.
 */
export async function writeResults(results: BenchResults, writeDocs: boolean): Promise<string[]> {
  const stamp = fileStamp(results.date);
  const parts = results.parts ?? ["api"];
  const only = parts.length === 1 ? `-${parts[0]}` : "";
  const json = `bench/results/${stamp}${results.mode === "quick" ? "-quick" : ""}${only}.json`;
  await mkdir(`${ROOT}bench/results`, { recursive: true });
  const earlier = writeDocs ? await latestFullRuns() : {};
  await writeFile(`${ROOT}${json}`, `${JSON.stringify(results, roundNumbers, 2)}\n`);
  const written = [json];
  if (writeDocs) {
    const latest = { ...earlier };
    for (const part of parts) latest[part] = results;
    await mkdir(`${ROOT}docs`, { recursive: true });
    await writeFile(`${ROOT}docs/benchmarks.md`, markdownReport(latest));
    written.push("docs/benchmarks.md");
  }
  return written;
}

/** The newest full run in bench/results/ of each part. */
async function latestFullRuns(): Promise<Partial<Record<BenchPart, BenchResults>>> {
  const names = (await readdir(`${ROOT}bench/results`))
    .filter((name) => name.endsWith(".json") && !name.includes("-quick"))
    .sort()
    .reverse();
  const found: Partial<Record<BenchPart, BenchResults>> = {};
  for (const name of names) {
    const results = JSON.parse(await readFile(`${ROOT}bench/results/${name}`, "utf8")) as BenchResults;
    for (const part of results.parts ?? ["api"]) found[part] ??= results;
    if (found.api && found.files && found.peer && found.versus && found.previews && found.events && found.tables && found.catalog) break;
  }
  return found;
}

/** Keeps the JSON small and diff-friendly: at most 3 decimals. */
function roundNumbers(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value;
}
