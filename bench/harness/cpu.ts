/**
 * CPU accounting over a measured window, from /proc: the server process (its CPU time per
 * request says where a request's cost is), the benchmark process (the load generator, or
 * the driver in the SQL floor), the PostgreSQL backends of this run (found by their
 * application_name), and whatever else the machine ran meanwhile: on a shared machine
 * that last figure says how far to trust the others.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** What to account for besides the benchmark's own process. */
export interface Watched {
  serverPid?: number;
  /** The backends serving this run (pg_stat_activity by application_name). */
  postgresPids?: () => Promise<number[]>;
}

export interface CpuSnapshot {
  at: number;
  machineBusy: number;
  machineTotal: number;
  serverMs: number;
  benchMs: number;
  postgresMs: Map<number, number>;
}

/** Percent of one core each (both cores busy: 200%). */
export interface CpuUse {
  server: number;
  loadGenerator: number;
  postgres: number;
  /** The machine's busy time not accounted for above: other processes, other databases' queries. */
  other: number;
  machine: number;
}

function machineTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    const busy = user! + nice! + system! + irq! + softirq! + steal!;
    return { busy, total: busy + idle! + iowait! };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/** User + system CPU milliseconds of `pid` (every thread); NaN when it is gone or unreadable. */
function processMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After "pid (comm) ": state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

export async function snapshot(watched: Watched): Promise<CpuSnapshot> {
  const pids = watched.postgresPids ? await watched.postgresPids().catch(() => []) : [];
  const machine = machineTicks();
  const self = process.cpuUsage();
  return {
    at: performance.now(),
    machineBusy: machine.busy,
    machineTotal: machine.total,
    serverMs: processMs(watched.serverPid),
    benchMs: (self.user + self.system) / 1000,
    postgresMs: new Map(pids.map((pid) => [pid, processMs(pid)])),
  };
}

export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const wallMs = after.at - before.at;
  const percent = (ms: number) => (100 * ms) / wallMs;
  let postgresMs = 0;
  for (const [pid, ms] of after.postgresMs) {
    // A backend that started during the window counts whole.
    const delta = ms - (before.postgresMs.get(pid) ?? 0);
    if (Number.isFinite(delta)) postgresMs += delta;
  }
  const server = Number.isFinite(after.serverMs - before.serverMs) ? percent(after.serverMs - before.serverMs) : 0;
  const loadGenerator = percent(after.benchMs - before.benchMs);
  const postgres = percent(postgresMs);
  const machine = (100 * availableParallelism() * (after.machineBusy - before.machineBusy)) / (after.machineTotal - before.machineTotal);
  return { server, loadGenerator, postgres, other: Math.max(0, machine - server - loadGenerator - postgres), machine };
}

/** The machine's busy time over `ms`, in percent of one core. */
async function machineBusyOver(ms: number): Promise<number> {
  const before = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = machineTicks();
  return (100 * availableParallelism() * (after.busy - before.busy)) / (after.total - before.total);
}

/** Other work above this (percent of one core) during a measurement marks its figures as disturbed. */
export const DISTURBED_PERCENT = 25;

/**
 * Before a measurement, with everything of ours idle: waits (up to `perPhaseSeconds`, and
 * `totalSeconds` over the whole run) until the machine is quiet, i.e. others' work is
 * below DISTURBED_PERCENT. Returns a note when it waited or gave up, for the log.
 */
export function quietWaiter(totalSeconds: number, perPhaseSeconds: number): () => Promise<string | undefined> {
  let left = totalSeconds * 1000;
  return async () => {
    const started = performance.now();
    let busy = await machineBusyOver(250);
    while (busy >= DISTURBED_PERCENT && left - (performance.now() - started) > 0 && performance.now() - started < perPhaseSeconds * 1000) {
      busy = await machineBusyOver(500);
    }
    const waited = performance.now() - started;
    left -= waited;
    if (busy >= DISTURBED_PERCENT) return `other work at ${Math.round(busy)}% of a core; measuring anyway (waited ${(waited / 1000).toFixed(1)} s)`;
    return waited > 1000 ? `waited ${(waited / 1000).toFixed(1)} s for other work to stop` : undefined;
  };
}

/** Waits until the server has used under 5% of a core for half a second (at most 30 s). */
export async function waitUntilIdle(watch: Watched): Promise<void> {
  const deadline = performance.now() + 30_000;
  let before = await snapshot(watch);
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = await snapshot(watch);
    if (cpuBetween(before, now).server < 5) return;
    before = now;
  }
}
