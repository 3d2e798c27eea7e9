/** The API part's targets (issue 6): errors, statements per request, ratios, p99s, the login storm, memory. */
import { fmt, pct } from "../harness/format.js";
import type { LoadResult } from "../harness/load.js";
import type { ApiResult, ScenarioResult } from "./measure.js";
import type { ScenarioName } from "./scenarios.js";

export interface Target {
  target: string;
  measured: string;
  /** `check`: within the target's figure, but the evidence says to look closer. */
  verdict: "ok" | "MISSED" | "check" | "n/a";
}

const verdictOf = (pass: boolean): Target["verdict"] => (pass ? "ok" : "MISSED");

/** Issue 6's targets, judged on the API part's figures (none when it did not run). */
export function evaluateApiTargets(results: Partial<Pick<ApiResult, "loginStorm" | "memory">> & Pick<ApiResult, "scenarios">): Target[] {
  if (!results.loginStorm || !results.memory) return [];
  const by = (name: ScenarioName) => results.scenarios.find((scenario) => scenario.name === name);
  const typename = by("typename");
  const datasets = by("datasets");
  const admin = by("adminDatasets");
  const me = by("me");
  const targets: Target[] = [];
  const errorsOf = (result: LoadResult) => result.non2xx + result.graphqlErrors + result.connectionErrors;
  const failing = results.scenarios.filter(
    (scenario) => errorsOf(scenario.server) + (scenario.bareRoute ? errorsOf(scenario.bareRoute) : 0) + (scenario.sqlFloor?.errors ?? 0) > 0,
  );
  const stormErrors =
    errorsOf(results.loginStorm.alone) +
    errorsOf(results.loginStorm.duringStorm) +
    errorsOf(results.loginStorm.logins) +
    (results.memory.soak ? errorsOf(results.memory.soak) : 0);
  targets.push({
    target: "0 errors in every scenario",
    measured:
      failing.length === 0 && stormErrors === 0
        ? "0"
        : [
            ...failing.map((scenario) => `${scenario.name}: ${errorsOf(scenario.server)}`),
            ...(stormErrors ? [`storm and soak: ${stormErrors}`] : []),
          ].join(", "),
    verdict: verdictOf(failing.length === 0 && stormErrors === 0),
  });
  const statements = (scenario: ScenarioResult | undefined, most: number, label: string) => {
    const mean = scenario?.server.statements?.mean;
    if (mean === undefined) return;
    targets.push({ target: `${label}: SQL statements per request ≤ ${most}`, measured: fmt(mean, 2), verdict: verdictOf(mean <= most) });
  };
  // The ceilings are 1, 3 and 4 with the viewer check, one fewer each where a cache
  // that honours revocation answers it, as the server's viewer cache does once warm.
  statements(me, 0, "me (viewer check cached)");
  statements(datasets, 2, "datasets(first: 20) with totalCount (viewer check cached)");
  statements(admin, 3, "adminDatasets(first: 20) with owners (viewer check cached)");
  if (typename && datasets) {
    const ratio = datasets.server.rps / typename.server.rps;
    targets.push({ target: "datasets(first: 20) ≥ 50% of { __typename } req/s", measured: pct(ratio), verdict: verdictOf(ratio >= 0.5) });
  }
  if (datasets && admin) {
    const ratio = admin.server.rps / datasets.server.rps;
    targets.push({ target: "adminDatasets { owner } ≥ 80% of datasets(first: 20) req/s", measured: pct(ratio), verdict: verdictOf(ratio >= 0.8) });
  }
  for (const scenario of [datasets, admin]) {
    if (!scenario) continue;
    targets.push({
      target: `${scenario.label} p99 < 25 ms`,
      measured: `${fmt(scenario.server.p99Ms, 1)} ms`,
      verdict: verdictOf(scenario.server.p99Ms < 25),
    });
  }
  const { alone, duringStorm, stormLogins } = results.loginStorm;
  const stormRatio = duringStorm.p99Ms / alone.p99Ms;
  targets.push({
    target: `datasets p99 during ${stormLogins} concurrent logins ≤ 3× alone`,
    measured: `${fmt(duringStorm.p99Ms, 1)} ms vs ${fmt(alone.p99Ms, 1)} ms: ${fmt(stormRatio, 2)}×`,
    verdict: verdictOf(stormRatio <= 3),
  });
  const { memory } = results;
  if (memory.afterSoakMiB !== undefined) {
    const growth = memory.afterSoakMiB / memory.afterWarmupMiB - 1;
    const slope = trendPerMinute(memory.soakSamplesMiB, 5);
    targets.push({
      target: `no RSS growth over the ${memory.soakSeconds} s mixed soak (within 10%, no steady climb)`,
      measured: `${fmt(memory.afterWarmupMiB, 0)} → ${fmt(memory.afterSoakMiB, 0)} MiB (${growth >= 0 ? "+" : ""}${pct(growth)}), trend ${fmt(slope, 1)} MiB/min`,
      verdict: growth > 0.1 ? "MISSED" : slope >= 5 ? "check" : "ok",
    });
  } else {
    targets.push({ target: "no RSS growth over a 60 s mixed soak", measured: "no soak in --quick mode", verdict: "n/a" });
  }
  return targets;
}

/** The least-squares slope of samples taken every `intervalSeconds`, per minute. */
function trendPerMinute(samples: readonly number[], intervalSeconds: number): number {
  if (samples.length < 2) return 0;
  const n = samples.length;
  const meanX = (n - 1) / 2;
  const meanY = samples.reduce((sum, value) => sum + value, 0) / n;
  let numerator = 0;
  let denominator = 0;
  samples.forEach((value, index) => {
    numerator += (index - meanX) * (value - meanY);
    denominator += (index - meanX) ** 2;
  });
  return (numerator / denominator) * (60 / intervalSeconds);
}
