/**
 * `npm run bench [-- --quick] [-- --profile] [-- --only api|files|previews|events|tables|catalog]`, or a side
 * by side run (`-- --peer postgraphile`, `-- --versus '…'`): see docs/benchmarks.md, and
 * bench/README.md for where each part lives.
 *
 * This file only orchestrates:
 * 1. reads the options (harness/options.ts);
 * 2. makes a throw-away schema on DATABASE_URL, seeded (1,000 users × 100 datasets; --quick,
 *    or a part that needs only a few users: 100 × 100), with users signed in (harness/run.ts);
 * 3. runs the parts asked for, each with servers of its own: the API scenarios and their
 *    floors (api/), files (files/), live events (events/), previews (previews/), exploring
 *    tables (tables/), the public catalog (catalog/, last: it makes a fifth of the datasets
 *    public), or the side by side run (side-by-side/);
 * 4. prints each part's section and writes the combined results: JSON in bench/results/ and
 *    (full mode) docs/benchmarks.md (results.ts).
 *
 * Everything started is stopped, and the schema dropped, at the end, on error and on Ctrl-C.
 */
import { loadavg } from "node:os";
import { apiSettings, measureApi } from "./api/measure.js";
import { measureCatalog } from "./catalog/measure.js";
import { evaluateCatalogTargets } from "./catalog/report.js";
import { measureApiProfile } from "./api/profile.js";
import { evaluateApiTargets } from "./api/targets.js";
import { measureEvents } from "./events/measure.js";
import { measureFiles } from "./files/measure.js";
import { evaluateFilesTargets } from "./files/report.js";
import { loadAverageNow, sourceFacts } from "./harness/facts.js";
import { fmt } from "./harness/format.js";
import { installSignalHandlers, log, tearDown } from "./harness/lifecycle.js";
import { type BenchOptions, readOptions } from "./harness/options.js";
import { prepareRun } from "./harness/run.js";
import { measurePreviews } from "./previews/measure.js";
import { type BenchResults, terminalReport, writeResults } from "./results.js";
import { measureSideBySide, sideBySideSettings } from "./side-by-side/measure.js";
import { sideBySideTargets } from "./side-by-side/report.js";
import { measureTables } from "./tables/measure.js";
import { evaluateTablesTargets } from "./tables/report.js";

async function main(options: BenchOptions): Promise<void> {
  const started = performance.now();
  const date = new Date().toISOString();
  const source = sourceFacts();
  log(
    `bench (${options.mode}, ${options.parts.join(" + ")}${options.profile ? ", profile" : ""}): commit ${source.commit}${source.dirty ? " + uncommitted changes" : ""}`,
  );
  const load = loadavg();
  if (load[0]! > 0.5) log(`note: load average ${load.map((value) => value.toFixed(2)).join(" ")}: other work on this machine skews the figures`);

  const { run, machine, seed } = await prepareRun(options);
  const runs = (part: "api" | "files" | "events" | "previews" | "tables" | "catalog") => options.parts.includes(part);

  const sideBySide = options.sideBySide ? await measureSideBySide(run, options.sideBySide) : undefined;
  const api = runs("api") ? await measureApi(run) : undefined;
  const profile = api && options.profile ? await measureApiProfile(run, date) : undefined;
  if (!api && !runs("catalog") && options.profile && !sideBySide)
    log("note: --profile profiles the API and catalog parts, neither of which is running");
  const files = runs("files") ? await measureFiles(run) : undefined;
  const events = runs("events") ? await measureEvents(run) : undefined;
  const previews = runs("previews") ? await measurePreviews(run) : undefined;
  const tables = runs("tables") ? await measureTables(run) : undefined;
  const catalog = runs("catalog") ? await measureCatalog(run) : undefined;

  machine.loadAverageAtEnd = loadAverageNow();
  const partial: Omit<BenchResults, "targets"> = {
    date,
    mode: options.mode,
    parts: [...options.parts],
    source,
    machine,
    settings: sideBySide ? sideBySideSettings(options, sideBySide) : apiSettings(options),
    ...(sideBySide ? { sideBySide: { ...sideBySide, targets: sideBySide.b.version ? sideBySideTargets(sideBySide) : [] } } : {}),
    seed,
    scenarios: api?.scenarios ?? [],
    ...(api ? { loginStorm: api.loginStorm, memory: api.memory } : {}),
    ...(profile ? { profile } : {}),
    ...(files ? { files: { ...files, targets: evaluateFilesTargets(files) } } : {}),
    ...(events ? { events } : {}),
    ...(previews ? { previews } : {}),
    ...(tables ? { tables: { ...tables, targets: evaluateTablesTargets(tables) } } : {}),
    ...(catalog ? { catalog: { ...catalog, targets: evaluateCatalogTargets(catalog) } } : {}),
    seconds: Math.round((performance.now() - started) / 1000),
  };
  const results: BenchResults = { ...partial, targets: evaluateApiTargets(partial) };
  log(terminalReport(results));
  const written = await writeResults(results, options.mode === "full");
  log(`\nwrote ${written.join(", ")} (${fmt(results.seconds)} s)`);
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
