/**
 * What every part's results carry besides its own figures: when and in which mode the run
 * was taken, of which code, on which machine (and how busy it was); and the lines every
 * part's section of docs/benchmarks.md starts with.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg, release, totalmem } from "node:os";
import { fmt } from "./format.js";
import type { BenchOptions, BenchPart } from "./options.js";
import { ROOT } from "./paths.js";

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
}

/** The facts of a run, as every results JSON in bench/results/ has them (each part adds its own figures beside them). */
export interface RunFacts {
  date: string;
  mode: BenchOptions["mode"];
  /** What ran (absent in runs before the files part: the API alone). */
  parts?: BenchPart[];
  /** The code measured: commit, and whether src/, schema/ or migrations/ differed from it. */
  source: { commit: string; dirty: boolean };
  machine: Machine;
  /** The API part's settings, or the side by side run's. */
  settings: Record<string, string | number>;
  seed: { users: number; datasets: number; seconds: number };
  seconds: number;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

export function machineFacts(postgres: { version: string; settings: Record<string, string> }): Machine {
  let cpu = "unknown";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return {
    cpu,
    cores: availableParallelism(),
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    postgres: postgres.version,
    postgresSettings: postgres.settings,
    loadAverageAtStart: loadavg().map(round2),
  };
}

/** The load average now, as the run's end is recorded. */
export const loadAverageNow = () => loadavg().map(round2);

export function sourceFacts(): RunFacts["source"] {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    return {
      commit: git("rev-parse", "--short=12", "HEAD"),
      dirty: git("status", "--porcelain", "--", "src", "schema", "migrations", "package-lock.json") !== "",
    };
  } catch {
    return { commit: "unknown", dirty: false };
  }
}

/** A section's first lines in docs/benchmarks.md: the code measured and the machine. */
export function codeAndMachineLines(results: RunFacts): string[] {
  const { machine } = results;
  return [
    `Code: commit \`${results.source.commit}\`${results.source.dirty ? " with uncommitted changes" : ""}. Run time ${fmt(results.seconds)} s.`,
    "",
    "| machine | |",
    "|---|---|",
    `| CPU | ${machine.cpu}, ${machine.cores} cores |`,
    `| RAM | ${machine.ramGiB} GiB |`,
    `| kernel | ${machine.kernel} |`,
    `| Node | ${machine.node} |`,
    `| PostgreSQL | ${machine.postgres} |`,
    `| PostgreSQL settings | ${Object.entries(machine.postgresSettings)
      .map(([name, value]) => `${name}=${value}`)
      .join(", ")} |`,
    `| load average at start / end | ${machine.loadAverageAtStart.join(" ")} / ${machine.loadAverageAtEnd?.join(" ") ?? "–"} |`,
    "",
  ];
}

/**
 * A warning for a run taken while the machine was busy with other work (load average above
 * its cores), then what that means for the part's figures; none on a machine not so busy.
 */
export function busyMachineNote(machine: Pick<Machine, "cores" | "loadAverageAtStart">, meaning: string): string | undefined {
  const load = machine.loadAverageAtStart[0] ?? 0;
  if (load <= machine.cores) return undefined;
  return `**Taken on a busy machine**: load average ${fmt(load, 1)} on ${machine.cores} cores at the start (other work ran throughout). ${meaning}`;
}
