/**
 * The catalog part (issue 21): the public catalog, `exploreDatasets`, over the run's 100,000
 * datasets of which a fifth are made public (harness/seed.ts `seedCatalog`: cards from a
 * vocabulary of 300 tags, licences, one to three files each with their previews), asked
 * anonymously of a real server (production) with autocannon: the first page with its count
 * and facets, the page alone, a text search and a tag filter with their facets; each loaded
 * (the API part's 32 connections) and one request at a time. Then the statements behind
 * them, built by the product's own builders, under EXPLAIN (ANALYZE, BUFFERS), and a check
 * that the counts kept by the triggers equal the facets grouped over every public dataset.
 */
import { mkdir, readdir } from "node:fs/promises";
import { graphql } from "../harness/client.js";
import { fmt } from "../harness/format.js";
import { log } from "../harness/lifecycle.js";
import { type HttpRequest, type LoadResult, runLoad } from "../harness/load.js";
import { fileStamp, ROOT } from "../harness/paths.js";
import { startApiServer } from "../harness/processes.js";
import { mainThreadProfile, summariseProfile } from "../harness/profile.js";
import { type CatalogFilter, catalogPage, catalogSummary, containsPattern } from "../harness/product.js";
import { graphqlRequest } from "../harness/requests.js";
import type { BenchRun } from "../harness/run.js";
import { type CatalogSeedFacts, catalogSeedFacts, seedCatalog } from "../harness/seed.js";
import { explain, type Plan } from "./plans.js";

export type CatalogScenarioName = "facets" | "page" | "search" | "tag";

export interface CatalogScenarioResult {
  name: CatalogScenarioName;
  label: string;
  /** `connections` at once, as fast as answered. */
  loaded: LoadResult;
  /** One connection: each request answered alone. */
  alone: LoadResult;
}

export interface CatalogResult {
  settings: Record<string, string | number>;
  seed: CatalogSeedFacts & { seconds: number };
  /** The facets the first page answered (what the load asked for, and the tag filter's tag). */
  firstPage: { totalCount: number; topTags: string[]; licenses: number; formats: string[] };
  scenarios: CatalogScenarioResult[];
  plans: Plan[];
  /** The kept counts (unfiltered catalog) equal the facets grouped over every public dataset. */
  countsAgree: boolean;
}

/** A word in about one name in 12 (the seed's names), as the API part's search. */
const SEARCH_WORD = "weather";

const NODE_FIELDS = "id name description tags license createdAt owner { username }";
const FACETS = "facets { tags { value count } licenses { value count } formats { value count } }";
const PAGE_INFO = "pageInfo { hasNextPage endCursor }";
const DOCUMENTS: Record<CatalogScenarioName, string> = {
  facets: `query Catalog { exploreDatasets(first: 20) { totalCount nodes { ${NODE_FIELDS} } ${PAGE_INFO} ${FACETS} } }`,
  page: `query CatalogPage { exploreDatasets(first: 20) { nodes { ${NODE_FIELDS} } ${PAGE_INFO} } }`,
  search: `query CatalogSearch($search: String!) { exploreDatasets(first: 20, filter: { search: $search }) { totalCount nodes { ${NODE_FIELDS} } ${PAGE_INFO} ${FACETS} } }`,
  tag: `query CatalogTag($tags: [String!]!) { exploreDatasets(first: 20, filter: { tags: $tags }) { totalCount nodes { ${NODE_FIELDS} } ${PAGE_INFO} ${FACETS} } }`,
};

type FacetAnswer = {
  exploreDatasets: { totalCount: number; facets: Record<"tags" | "licenses" | "formats", Array<{ value: string; count: number }>> };
};

/** Anonymous visitors' addresses, from 198.18.0.0/15 (set aside for benchmarks, RFC 2544). */
const VISITORS = 256;

/** The same request from each visitor, as a proxy in front of the server would forward it. */
function fromVisitors(request: HttpRequest): HttpRequest[] {
  return Array.from({ length: VISITORS }, (_, visitor) => ({
    ...request,
    headers: { ...request.headers, "x-forwarded-for": `198.18.${visitor >> 8}.${visitor & 255}` },
  }));
}

const WHOLE: CatalogFilter = { pattern: null, tags: null, license: null, owner: null, format: null, only: null };

export async function measureCatalog(run: BenchRun): Promise<CatalogResult> {
  const { options } = run;
  const sizes = options.catalog;
  log(`\n== Catalog: exploreDatasets, anonymous, 1 in ${sizes.publicEvery} of the seeded datasets public`);
  const pool = run.database.pool(1);
  try {
    const started = performance.now();
    await seedCatalog(pool, { seeded: options.users * options.datasetsPerUser, publicEvery: sizes.publicEvery });
    for (const table of ["datasets", "blobs", "version_files", "dataset_versions", "file_previews", "catalog_facet_counts"]) {
      await pool.query(`vacuum analyze ${table}`);
    }
    const seed = { ...(await catalogSeedFacts(pool)), seconds: Math.round((performance.now() - started) / 100) / 10 };
    log(
      `  seeded the catalog in ${fmt(seed.seconds, 1)} s: ${fmt(seed.publicDatasets)} public of ${fmt(seed.datasets)} datasets, ` +
        `${fmt(seed.tagsInUse)} tags in use (${fmt(seed.tagsPerPublic, 1)} per dataset), ${fmt(seed.publicFiles)} files (vacuumed, analyzed)`,
    );

    // Anonymous visitors come from many addresses: the server believes the loopback "proxy"'s
    // X-Forwarded-For, and the requests carry VISITORS addresses, each with its own counter of
    // the anonymous limit (one address's requests would all wait on one counter row).
    // With --profile, the server runs under node --cpu-prof (bench/profiles/, not committed).
    const profileDir = options.profile ? `${ROOT}bench/profiles/${fileStamp(new Date().toISOString())}-catalog` : undefined;
    if (profileDir) await mkdir(profileDir, { recursive: true });
    const server = await startApiServer({
      databaseUrl: run.database.url,
      jwtSecret: run.jwtSecret,
      bcryptCost: options.bcryptCost,
      environment: { TRUST_PROXY: "127.0.0.1" },
      ...(profileDir ? { cpuProfileDir: profileDir } : {}),
    });
    const watch = { serverPid: server.pid, postgresPids: run.database.backendPids };
    const first = (await graphql<FacetAnswer>(server.origin, null, DOCUMENTS.facets, {})).exploreDatasets;
    const topTag = first.facets.tags[0]?.value;
    if (first.totalCount !== seed.publicDatasets || topTag === undefined) {
      throw new Error(`the catalog answered ${first.totalCount} public datasets and ${first.facets.tags.length} tags; seeded ${seed.publicDatasets}`);
    }
    const requests: Record<CatalogScenarioName, { label: string; variables?: Record<string, unknown> }> = {
      facets: { label: "first page (20) with totalCount and facets" },
      page: { label: "first page (20) alone" },
      search: { label: `search "${SEARCH_WORD}", with totalCount and facets`, variables: { search: SEARCH_WORD } },
      tag: { label: `tag ${topTag} (the most common), with totalCount and facets`, variables: { tags: [topTag] } },
    };
    const names = Object.keys(requests) as CatalogScenarioName[];
    const built = Object.fromEntries(names.map((name) => [name, fromVisitors(graphqlRequest(name, DOCUMENTS[name], requests[name].variables))]));
    // A fresh server compiles its code as the first requests come: every scenario once, unmeasured, so the first is not slower for it.
    await runLoad({
      origin: server.origin,
      requests: names.flatMap((name) => built[name]!),
      connections: sizes.connections,
      warmupSeconds: 0,
      seconds: 2 * sizes.phase.warmupSeconds,
    });
    const scenarios: CatalogScenarioResult[] = [];
    let profiled: { from: number; to: number } | undefined;
    for (const name of names) {
      const { label } = requests[name];
      const request = built[name]!;
      await run.settle();
      const loadedFrom = performance.now() + sizes.phase.warmupSeconds * 1000;
      const loaded = await runLoad({ origin: server.origin, requests: request, connections: sizes.connections, ...sizes.phase, watch });
      if (name === "facets") profiled = { from: loadedFrom, to: performance.now() };
      await run.settle();
      const alone = await runLoad({ origin: server.origin, requests: request, connections: 1, ...sizes.alonePhase, watch });
      scenarios.push({ name, label, loaded, alone });
      const firstError = loaded.firstError ?? alone.firstError;
      log(
        `  ${label}: ${fmt(loaded.rps)} req/s, p50 ${fmt(loaded.p50Ms, 1)} ms, p99 ${fmt(loaded.p99Ms, 1)} ms at ${sizes.connections} connections; ` +
          `alone p50 ${fmt(alone.p50Ms, 1)} ms, p99 ${fmt(alone.p99Ms, 1)} ms; ${errorsOf(loaded) + errorsOf(alone)} errors` +
          (firstError ? ` (${firstError})` : ""),
      );
    }
    await server.stop();
    if (profileDir && profiled) await logProfile(profileDir, profiled, performance.now());

    const search: CatalogFilter = { ...WHOLE, pattern: containsPattern(SEARCH_WORD) };
    const tag: CatalogFilter = { ...WHOLE, tags: [topTag] };
    // A search every public dataset matches (each has a name): the filtered path over all of them.
    const everyOne: CatalogFilter = { ...WHOLE, pattern: "%" };
    const plans: Plan[] = [];
    const plan = async (label: string, statement: Parameters<typeof explain>[2]) => {
      const result = await explain(pool, label, statement);
      plans.push(result);
      log(`\n-- ${label}: ${fmt(result.executionMs, 2)} ms; indexes: ${result.indexes.join(", ") || "none"}\n${result.text}`);
    };
    await plan("first page, unfiltered", catalogPage("CREATED_AT_DESC", WHOLE, null, 21));
    await plan("count and facets, unfiltered (the kept counts)", catalogSummary(WHOLE));
    await plan(`first page, search "${SEARCH_WORD}"`, catalogPage("CREATED_AT_DESC", search, null, 21));
    await plan(`count and facets, search "${SEARCH_WORD}"`, catalogSummary(search));
    await plan(`first page, tag ${topTag}`, catalogPage("CREATED_AT_DESC", tag, null, 21));
    await plan(`count and facets, tag ${topTag}`, catalogSummary(tag));
    await plan("count and facets grouped over every public dataset (a search all match)", catalogSummary(everyOne));

    const summaryOf = async (filter: CatalogFilter) => {
      const statement = catalogSummary(filter);
      return JSON.stringify((await pool.query(statement.text, statement.params)).rows[0]);
    };
    const countsAgree = (await summaryOf(WHOLE)) === (await summaryOf(everyOne));
    log(`\n  the kept counts ${countsAgree ? "equal" : "DIFFER FROM"} the facets grouped over every public dataset`);

    return {
      settings: {
        data: `${fmt(seed.datasets)} datasets, ${fmt(seed.publicDatasets)} public (every ${sizes.publicEvery}th), ${fmt(seed.tagsInUse)} tags in use (${fmt(seed.tagsPerPublic, 1)} per public dataset), ${fmt(seed.publicFiles)} latest-version files of public datasets`,
        requests: `anonymous POST /graphql, the same request over and over (the catalog is the same for everyone), from ${VISITORS} client addresses (X-Forwarded-For, TRUST_PROXY=127.0.0.1)`,
        loaded: `${sizes.connections} connections, ${sizes.phase.warmupSeconds} s warm-up + ${sizes.phase.seconds} s measured`,
        alone: `1 connection, ${sizes.alonePhase.warmupSeconds} s warm-up + ${sizes.alonePhase.seconds} s measured`,
        server: "production, LOG_LEVEL=warn, ANONYMOUS_MAX_PER_ADDRESS=1000000 (the limit still counts each request: one write each)",
      },
      seed,
      firstPage: {
        totalCount: first.totalCount,
        topTags: first.facets.tags.slice(0, 5).map((facet) => `${facet.value} (${fmt(facet.count)})`),
        licenses: first.facets.licenses.length,
        formats: first.facets.formats.map((facet) => `${facet.value} (${fmt(facet.count)})`),
      },
      scenarios,
      plans,
      countsAgree,
    };
  } finally {
    await pool.end();
  }
}

/** The profiled server's main thread during the first page's loaded phase: self time by function and by package. */
async function logProfile(directory: string, window: { from: number; to: number }, exited: number): Promise<void> {
  const file = mainThreadProfile(await readdir(directory));
  if (!file) throw new Error(`the profiled server wrote no main-thread .cpuprofile into ${directory}`);
  const summary = await summariseProfile(`${directory}/${file}`, {
    fromSecondsBeforeEnd: (exited - window.from) / 1000,
    toSecondsBeforeEnd: (exited - window.to) / 1000,
  });
  log(`\n== CPU profile of the server, first page with facets under load (${fmt(summary.busyPercent)}% busy; ${summary.file.slice(ROOT.length)})`);
  for (const entry of summary.top) log(`  ${fmt(entry.percent, 1)}%  ${fmt(entry.selfMs)} ms  ${entry.function}  ${entry.where}`);
  log("  by package:");
  for (const entry of summary.byPackage) log(`  ${fmt(entry.percent, 1)}%  ${entry.name}`);
}

export const errorsOf = (result: LoadResult) => result.non2xx + result.graphqlErrors + result.connectionErrors;
