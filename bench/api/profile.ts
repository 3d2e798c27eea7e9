/**
 * The API part's --profile: the server again, under `node --cpu-prof` (into bench/profiles/,
 * not committed), for datasets and adminDatasets; then its main thread's self time per
 * function and package over the measured windows (harness/profile.ts).
 */
import { mkdir, readdir } from "node:fs/promises";
import { log } from "../harness/lifecycle.js";
import { runLoad } from "../harness/load.js";
import { fileStamp, ROOT } from "../harness/paths.js";
import { startApiServer } from "../harness/processes.js";
import { mainThreadProfile, summariseProfile } from "../harness/profile.js";
import type { BenchRun } from "../harness/run.js";
import { type ApiProfile, progressLine, watching } from "./measure.js";
import { buildScenarios } from "./scenarios.js";

/** The server again, under `node --cpu-prof`, for datasets and adminDatasets; its main thread's self time under load. */
export async function measureApiProfile(run: BenchRun, date: string): Promise<ApiProfile> {
  const { options, database } = run;
  const directory = `${ROOT}bench/profiles/${fileStamp(date)}`;
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
  for (const scenario of buildScenarios(run.fixtures, options).filter((entry) => entry.name === "datasets" || entry.name === "adminDatasets")) {
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
