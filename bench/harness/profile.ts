/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof): self time per function (by name and script),
 * and per package, over the window under load (start-up and shutdown left out), so the
 * profile says where a request's main-thread time goes.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ROOT } from "./paths.js";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds. */
  startTime: number;
  endTime: number;
  /** The node on the stack's top at each sample, and the microseconds since the sample before. */
  samples: number[];
  timeDeltas: number[];
}

/** Which part of the profile to read, in seconds before its end (the process's exit). */
export interface ProfileWindow {
  fromSecondsBeforeEnd: number;
  toSecondsBeforeEnd: number;
}

export interface ProfileEntry {
  function: string;
  /** The script, relative to the project (or a package / node: module), with the line. */
  where: string;
  selfMs: number;
  /** Of the busy (non-idle) samples. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  seconds: number;
  /** Share of samples that were not idle. */
  busyPercent: number;
  top: ProfileEntry[];
  byPackage: Array<{ name: string; selfMs: number; percent: number }>;
}

/** A script's place, short: `src/auth/tokens.ts`, `node_modules/jose/…`, `node:internal/…`. */
function shorten(url: string): string {
  if (url === "") return "(native)";
  let path = url.startsWith("file://") ? fileURLToPath(url) : url;
  if (path.startsWith(ROOT)) path = path.slice(ROOT.length);
  return path.replace(/^.*?node_modules\//, "node_modules/");
}

/** What a script belongs to: a package, a folder of src/, a node: module, or V8 itself. */
function packageOf(frame: CallFrame): string {
  if (frame.url === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native code)";
  const path = shorten(frame.url);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
  if (pkg) return pkg;
  if (path.startsWith("node:"))
    return `node:${path
      .slice(5)
      .split("/")
      .slice(0, path.startsWith("node:internal/") ? 2 : 1)
      .join("/")}`;
  if (path.startsWith("src/"))
    return path
      .split("/")
      .slice(0, path.split("/").length > 2 ? 2 : 1)
      .join("/");
  return path;
}

/**
 * Self time per function and per package over `window` (all of the profile without one),
 * from the samples: each sample's time is the interval to the next one.
 */
export async function summariseProfile(file: string, window?: ProfileWindow, topN = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  const from = window ? profile.endTime - window.fromSecondsBeforeEnd * 1e6 : profile.startTime;
  const to = window ? profile.endTime - window.toSecondsBeforeEnd * 1e6 : profile.endTime;
  const selfUs = new Map<number, number>();
  let time = profile.startTime;
  for (let index = 0; index < profile.samples.length; index += 1) {
    time += profile.timeDeltas[index] ?? 0;
    if (time < from || time > to) continue;
    const duration = profile.timeDeltas[index + 1] ?? 0;
    const node = profile.samples[index]!;
    selfUs.set(node, (selfUs.get(node) ?? 0) + duration);
  }

  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  let totalUs = 0;
  let idleUs = 0;
  const functions = new Map<string, { frame: CallFrame; us: number; hottest: number; line: number }>();
  const packages = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = frames.get(id)!;
    totalUs += us;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const key = `${frame.functionName}\u0000${frame.url}`;
    const entry = functions.get(key) ?? { frame, us: 0, hottest: 0, line: frame.lineNumber };
    entry.us += us;
    if (us > entry.hottest) {
      entry.hottest = us;
      entry.line = frame.lineNumber;
    }
    functions.set(key, entry);
    const pkg = packageOf(frame);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const percent = (us: number) => (busyUs > 0 ? (100 * us) / busyUs : 0);
  return {
    file,
    seconds: (to - from) / 1e6,
    busyPercent: totalUs > 0 ? (100 * busyUs) / totalUs : 0,
    top: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map(({ frame, us, line }) => ({
        function: frame.functionName || "(anonymous)",
        where: frame.url ? `${shorten(frame.url)}:${line + 1}` : "(native)",
        selfMs: us / 1000,
        percent: percent(us),
      })),
    byPackage: [...packages.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([name, us]) => ({ name, selfMs: us / 1000, percent: percent(us) })),
  };
}

/** The main thread's profile among those `node --cpu-prof` wrote (one per thread: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile). */
export function mainThreadProfile(names: readonly string[]): string | undefined {
  return names.find((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name));
}
