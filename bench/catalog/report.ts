/** The catalog part's targets (issue 21) and its section: tables on the terminal, and its part of docs/benchmarks.md. */
import { busyMachineNote, codeAndMachineLines, type RunFacts } from "../harness/facts.js";
import { fmt, fmtRate, markdownTable, type Table, textTable } from "../harness/format.js";
import { type CatalogResult, errorsOf } from "./measure.js";

export interface CatalogTarget {
  target: string;
  measured: string;
  verdict: "PASS" | "MISS";
}

/** The catalog part's results with its targets judged. */
export type CatalogReport = CatalogResult & { targets: CatalogTarget[] };

/** A run's results as far as the catalog part goes. */
export type CatalogResults = RunFacts & { catalog?: CatalogReport };

/** Issue 21's figure: the first page with its facets, p50. */
export const CATALOG_TARGETS = { firstPageP50Ms: 50 } as const;

/** The indexes the unfiltered page and its facets are to be read through (migrations/013, 016). */
const PAGE_INDEX = "datasets_public_created_idx";

const verdictOf = (pass: boolean): CatalogTarget["verdict"] => (pass ? "PASS" : "MISS");

export function evaluateCatalogTargets(catalog: CatalogResult): CatalogTarget[] {
  const facets = catalog.scenarios.find((scenario) => scenario.name === "facets")!;
  const connections = catalog.settings.loaded;
  const [page, counts] = catalog.plans;
  const errors = catalog.scenarios.reduce((sum, scenario) => sum + errorsOf(scenario.loaded) + errorsOf(scenario.alone), 0);
  const readsDatasetsWhole = catalog.plans.slice(0, 6).some((plan) => plan.seqScans.includes("datasets"));
  return [
    {
      target: `first page with facets answers within ${CATALOG_TARGETS.firstPageP50Ms} ms at p50 (one request at a time)`,
      measured: `p50 ${fmt(facets.alone.p50Ms, 1)} ms, p99 ${fmt(facets.alone.p99Ms, 1)} ms`,
      verdict: verdictOf(facets.alone.p50Ms <= CATALOG_TARGETS.firstPageP50Ms),
    },
    {
      target: `the same under load, p50 ≤ ${CATALOG_TARGETS.firstPageP50Ms} ms (${connections})`,
      measured: `p50 ${fmt(facets.loaded.p50Ms, 1)} ms, p99 ${fmt(facets.loaded.p99Ms, 1)} ms at ${fmtRate(facets.loaded.rps)} req/s (server ${fmt(facets.loaded.cpu.serverMsPerRequest, 2)} ms + PostgreSQL ${fmt(facets.loaded.cpu.postgresMsPerRequest, 2)} ms of CPU per request)`,
      verdict: verdictOf(facets.loaded.p50Ms <= CATALOG_TARGETS.firstPageP50Ms),
    },
    {
      target: `EXPLAIN: the unfiltered page walks ${PAGE_INDEX}; its count and facets read the kept counts, not datasets; no statement reads datasets whole`,
      measured: `page: ${page!.indexes.join(", ") || "no index"}; facets: ${counts!.indexes.join(", ") || "no index"}${counts!.seqScans.length ? ` (seq scan of ${counts!.seqScans.join(", ")})` : ""}`,
      verdict: verdictOf(page!.indexes.includes(PAGE_INDEX) && !/\bdatasets\b/.test(counts!.text) && !readsDatasetsWhole),
    },
    {
      target: "facet counts in SQL: the kept counts equal the facets grouped over every public dataset",
      measured: catalog.countsAgree ? "equal" : "different",
      verdict: verdictOf(catalog.countsAgree),
    },
    { target: "no errors", measured: fmt(errors), verdict: verdictOf(errors === 0) },
  ];
}

const HEADERS = ["scenario", "req/s", "p50 ms", "p99 ms", "alone p50 ms", "alone p99 ms", "statements", "server + PG ms/req", "errors"];

function scenarioTable(catalog: CatalogResult): Table {
  return {
    headers: HEADERS,
    rows: catalog.scenarios.map(({ label, loaded, alone }) => [
      label,
      fmtRate(loaded.rps),
      fmt(loaded.p50Ms, 1),
      fmt(loaded.p99Ms, 1),
      fmt(alone.p50Ms, 1),
      fmt(alone.p99Ms, 1),
      loaded.statements ? fmt(loaded.statements.mean, 1) : "–",
      `${fmt(loaded.cpu.serverMsPerRequest, 2)} + ${fmt(loaded.cpu.postgresMsPerRequest, 2)}`,
      fmt(errorsOf(loaded) + errorsOf(alone)),
    ]),
    rightAligned: HEADERS.map((_header, column) => column > 0),
  };
}

function planTable(catalog: CatalogResult): Table {
  return {
    headers: ["statement (EXPLAIN ANALYZE)", "execution ms", "indexes read", "read whole"],
    rows: catalog.plans.map((plan) => [plan.label, fmt(plan.executionMs, 2), plan.indexes.join(", ") || "–", plan.seqScans.join(", ") || "–"]),
    rightAligned: [false, true, false, false],
  };
}

/** The catalog part's lines on the terminal at the end of a run (none when it did not run). */
export function catalogTerminalSection(results: CatalogResults): string[] {
  const { catalog } = results;
  if (!catalog) return [];
  return [
    `\n== Catalog (${results.mode} run): ${catalog.settings.data}`,
    textTable(scenarioTable(catalog)),
    "",
    textTable(planTable(catalog)),
    "",
    ...catalog.targets.map((target) => `${target.verdict}  ${target.target}: ${target.measured}`),
  ];
}

/** The catalog part's section of docs/benchmarks.md (its latest full run). */
export function catalogMarkdownSection(results: CatalogResults | undefined): string[] {
  const catalog = results?.catalog;
  if (!results || !catalog) return ["## Catalog", "", "No full run yet.", ""];
  const busy = busyMachineNote(
    results.machine,
    "Latencies and req/s are the machine's as much as the server's; the plans' shapes are the steadier figures.",
  );
  return [
    `## Catalog: latest full run, ${results.date}`,
    "",
    "`DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench -- --only catalog` (add `--quick` for a short run).",
    "",
    ...(busy ? [busy, ""] : []),
    ...codeAndMachineLines(results),
    "| setting | |",
    "|---|---|",
    ...Object.entries(catalog.settings).map(([name, value]) => `| ${name} | ${value} |`),
    "",
    `The first page's facets: ${fmt(catalog.firstPage.totalCount)} public datasets; most common tags ${catalog.firstPage.topTags.join(", ")}; ` +
      `${catalog.firstPage.licenses} licences; formats ${catalog.firstPage.formats.join(", ")}.`,
    "",
    markdownTable(scenarioTable(catalog)),
    "",
    "### Plans",
    "",
    markdownTable(planTable(catalog)),
    "",
    "### Targets (issue 21)",
    "",
    "| target (issue 21) | measured |  |",
    "|---|---|---|",
    ...catalog.targets.map((target) => `| ${target.target} | ${target.measured} | ${target.verdict} |`),
    "",
    ...CATALOG_METHOD,
    ...catalog.plans.flatMap((plan) => ["<details>", `<summary>${plan.label}</summary>`, "", "```", plan.text, "```", "", "</details>", ""]),
  ];
}

/** How the catalog part measures (docs/benchmarks.md). */
const CATALOG_METHOD = [
  "The server is its own process (production); every request is anonymous, so each also counts against the",
  "anonymous limit per address, one write to the database, as in production. `alone`: one connection, each request",
  "answered before the next is sent. `statements`: the server's own count per request (`x-sql-statements`). The",
  "unfiltered count and facets come from `catalog_facet_counts`, kept by migrations/016's triggers in the",
  "transaction of every write of a dataset, version or preview; a filtered catalog groups its own rows in SQL. The",
  "plans are the server's statements, built by its own builders (`src/datasets/catalog-sql.ts`) with the values of",
  "the scenarios, each run twice and the second shown; the last is what the unfiltered facets would cost grouped",
  "in SQL over every public dataset, and the check that the kept counts equal it.",
  "",
];
