/**
 * The processes under test: the real server as `npm start` runs it (the build in dist/, made
 * first when it is stale by the script `npm start` runs before it, and the node options of
 * the start script), but started by node itself so that its pid is the server's own, for RSS
 * and --cpu-prof; and any other
 * child a part starts (the API part's bare route, the PostGraphile peer). Each is stopped at
 * the end, also on Ctrl-C.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { onCleanup, sleep } from "./lifecycle.js";
import { ROOT } from "./paths.js";
import { BUILD_SCRIPT, SERVER_ENTRY, startNodeOptions } from "./product.js";

export interface ChildServer {
  pid: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Resident set size now, in MiB (from /proc/<pid>/status). */
  rssMiB(): number;
  /** SIGTERM, then SIGKILL after 15 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

export interface ApiServerOptions {
  databaseUrl: string;
  jwtSecret: string;
  bcryptCost: number;
  /** Run under `node --cpu-prof`, writing the profile here on exit. */
  cpuProfileDir?: string;
  /** More variables, or other values (the files part: DATA_DIR, MAX_FILE_SIZE, STORAGE_QUOTA). */
  environment?: Record<string, string>;
  /** Options for node before the script (`--max-semi-space-size=64`). */
  nodeOptions?: readonly string[];
  /** Another checkout of the project to run the server from (a before/after comparison); default this one. */
  checkout?: string;
  /** Another node binary; default the one running the benchmark. */
  node?: string;
}

/** The environment of the server under test: production, with throttles out of the way. */
export function apiServerEnvironment(options: ApiServerOptions, port: number): Record<string, string> {
  return {
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: options.databaseUrl,
    JWT_SECRET: options.jwtSecret,
    BCRYPT_COST: String(options.bcryptCost),
    // warn: the listening line (info) is not printed, so the port is chosen here.
    LOG_LEVEL: "warn",
    EXPOSE_STATEMENT_COUNT: "true",
    // Every request comes from 127.0.0.1: the throttles would measure themselves refusing.
    LOGIN_MAX_FAILURES: "1000",
    LOGIN_ADDRESS_MAX_FAILURES: "100000",
    LOGIN_ACCOUNT_MAX_FAILURES: "100000",
    REGISTER_MAX_PER_ADDRESS: "100000",
    REFRESH_MAX_PER_ADDRESS: "100000",
    ...options.environment,
    // The writers' scenario creates datasets as fast as it can, as a few users.
    WRITE_MAX_PER_USER: "1000000",
    ANONYMOUS_MAX_PER_ADDRESS: "1000000",
  };
}

export async function startApiServer(options: ApiServerOptions): Promise<ChildServer> {
  buildServer(options.checkout ?? ROOT);
  const port = await freePort();
  const profiling = options.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  return startChild({
    label: "server",
    args: [...startNodeOptions(options.checkout ?? ROOT), ...(options.nodeOptions ?? []), ...profiling, SERVER_ENTRY],
    env: apiServerEnvironment(options, port),
    port,
    cwd: options.checkout,
    ...(options.node ? { command: options.node } : {}),
  });
}

/**
 * Builds `checkout`'s dist/ from its src/ unless it is current (what `npm start` does first):
 * the server measured is the compiled JavaScript production runs, not a TypeScript loader's
 * output (tsx names every function it creates at run time, which costs per closure).
 */
function buildServer(checkout: string): void {
  const build = spawnSync(process.execPath, [BUILD_SCRIPT], { cwd: checkout, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`building the server in ${checkout} failed:\n${build.stdout}${build.stderr}`);
}

export interface ChildSpec {
  label: string;
  /** Default: the node running the benchmark. */
  command?: string;
  args: string[];
  env: Record<string, string>;
  port: number;
  /** Default: the project's root. */
  cwd?: string;
  /** Whether the child answers yet (default: `GET /healthz` is 200). */
  ready?: (origin: string) => Promise<boolean>;
}

export async function startChild({ label, command = process.execPath, args, env, port, cwd = ROOT, ready }: ChildSpec): Promise<ChildServer> {
  const child = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const origin = `http://127.0.0.1:${port}`;
  const stop = onCleanup(`stop ${label} (pid ${child.pid})`, () => stopChild(child, exited));

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`${label} exited before listening (${child.exitCode ?? child.signalCode}):\n${output.trim()}`);
    }
    if (await (ready ? ready(origin) : answers(`${origin}/healthz`))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${label} did not answer on ${origin} within 60 s:\n${output.trim()}`);
    }
    await sleep(100);
  }
  return { pid: child.pid!, origin, rssMiB: () => rssMiB(child.pid!), stop };
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(killer);
}

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kB = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (!kB) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kB) / 1024;
}

/** A port free on loopback now (the server is told it, since at LOG_LEVEL=warn it does not say where it listens). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** What an RSS sampler saw. */
export interface RssSamples {
  /** Before the first sample (the idle RSS the growth is counted from). */
  beforeMiB: number;
  peakMiB: number;
  afterMiB: number;
  samples: number;
}

/**
 * Reads `pid`'s RSS every `intervalMs` until `stop` (also once at the start and the end), for
 * its peak during something that runs meanwhile.
 */
export function sampleRss(pid: number, intervalMs = 100): { stop(): RssSamples } {
  const beforeMiB = rssMiB(pid);
  let peakMiB = beforeMiB;
  let samples = 1;
  const take = () => {
    const now = rssMiB(pid);
    peakMiB = Math.max(peakMiB, now);
    samples += 1;
    return now;
  };
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const afterMiB = take();
      return { beforeMiB, peakMiB, afterMiB, samples };
    },
  };
}
