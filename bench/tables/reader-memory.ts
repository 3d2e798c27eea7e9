/**
 * The server's table readers seen from outside: the children of the server's process that run
 * `query-reader.mjs`, found in /proc and sampled until stopped, each one's peak resident memory
 * (VmHWM: the kernel's own high-water mark, so a peak between two samples is not missed).
 * Sampling also sees a reader that was replaced during the run (killed at a time limit), whose
 * peak would be gone by the end.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ReaderPeak {
  pid: number;
  peakMiB: number;
}

const READER_SCRIPT = "query-reader.mjs";

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    // Gone meanwhile.
    return undefined;
  }
}

/** The parent of `pid` (the field after the command's closing parenthesis, which may itself hold spaces). */
function parentOf(pid: number): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** The table readers running now under `serverPid`. */
export function readerPids(serverPid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (parentOf(pid) !== serverPid) continue;
    if (readText(`/proc/${pid}/cmdline`)?.includes(READER_SCRIPT)) pids.push(pid);
  }
  return pids;
}

function peakMiB(pid: number): number | undefined {
  const kB = /^VmHWM:\s+(\d+) kB$/m.exec(readText(`/proc/${pid}/status`) ?? "")?.[1];
  return kB === undefined ? undefined : Number(kB) / 1024;
}

/** Samples every `intervalMs` until `stop`, which returns each reader seen with its peak, largest first. */
export function watchReaders(serverPid: number, intervalMs = 250): { stop(): ReaderPeak[] } {
  const peaks = new Map<number, number>();
  const sample = () => {
    for (const pid of readerPids(serverPid)) {
      const peak = peakMiB(pid);
      if (peak !== undefined) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, peak));
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return [...peaks].map(([pid, peak]) => ({ pid, peakMiB: peak })).sort((a, b) => b.peakMiB - a.peakMiB);
    },
  };
}
