import type { EventsOptions } from "./events.js";

/** What one `npm run bench` does: the mode, its sizes and durations, read from argv and DATABASE_URL. */

export interface Phase {
  /** Seconds of load before measuring (discarded). */
  warmupSeconds: number;
  /** Seconds measured. */
  seconds: number;
}

/** The benchmark's parts: the GraphQL API scenarios (issue 6), files (issue 11), previews (issue 14), live events (issue 15). */
export type BenchPart = "api" | "files" | "previews" | "events";
export const BENCH_PARTS: readonly BenchPart[] = ["api", "files", "previews", "events"];

/** The previews part's sizes (bench/previews.ts). */
export interface PreviewsOptions {
  /** The generated CSV (`--preview-size`, e.g. 200MB); its Parquet is what the same rows make. */
  csvBytes: number;
  threads: number;
  memoryLimitBytes: number;
  meRate: number;
  meConnections: number;
}

/** The files part's sizes (bench/files.ts). */
export interface FilesOptions {
  /** The one large file uploaded (twice: in chunks, and in one request) and downloaded. */
  bigFileBytes: number;
  /** PATCH size of the chunked upload. */
  chunkBytes: number;
  /** Uploads made at once while `me` is asked at a steady rate. */
  parallelUploads: number;
  parallelFileBytes: number;
  /** The steady rate of `me` during the parallel uploads (and alone before them), requests per second. */
  meRate: number;
  meConnections: number;
  /** Seconds of `me` at that rate alone, the baseline. */
  meAloneSeconds: number;
}

export interface BenchOptions {
  mode: "full" | "quick";
  /** Which parts run (`--only api` or `--only files`; both by default). */
  parts: readonly BenchPart[];
  /** Also run the server under `node --cpu-prof` for datasets and adminDatasets. */
  profile: boolean;
  /** PostgreSQL, as given (the throw-away schema is added to it). */
  databaseUrl: string;
  users: number;
  datasetsPerUser: number;
  /** Connections of every scenario but login. */
  connections: number;
  loginConnections: number;
  /** Logins kept in flight during the event-loop health run. */
  stormLogins: number;
  /** The bcrypt cost the server runs with (README: 12 on the reference machine). */
  bcryptCost: number;
  scenario: Phase;
  sqlFloor: Phase;
  bareRoute: Phase;
  /** The mixed soak between the two RSS readings; 0: none. */
  soakSeconds: number;
  /** Connections of the `pg` pool the SQL floor runs through (the server's pool has 10). */
  sqlFloorPoolSize: number;
  /** Waiting for other work on the machine to stop before each measurement: at most this long in all, and per measurement. */
  quiet: { totalSeconds: number; perPhaseSeconds: number };
  files: FilesOptions;
  events: EventsOptions;
  previews: PreviewsOptions;
}

const USAGE = "usage: npm run bench [-- --quick] [-- --profile] [-- --only api|files|previews|events] [-- --preview-size 200MB]";
const MIB = 2 ** 20;

/** Reads argv and the environment; prints one line and exits 1 when there is nothing to run against. */
export function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Set<string>();
  let only: BenchPart | undefined;
  let previewSize: number | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const flag = argv[index]!;
    const size = /^--preview-size(?:=(.*))?$/.exec(flag);
    if (size) {
      if (size[1] === undefined) index += 1;
      const value = size[1] ?? argv[index];
      const match = /^(\d+)\s*(MB|MiB|GB|GiB)?$/i.exec(value ?? "");
      const unit = { MB: 1e6, MIB: 2 ** 20, GB: 1e9, GIB: 2 ** 30 }[(match?.[2] ?? "MB").toUpperCase() as "MB"];
      if (!match) fail(`bench: --preview-size takes a size such as 200MB or 1GiB, got ${value ?? "nothing"} (${USAGE})`);
      previewSize = Number(match[1]) * unit;
      continue;
    }
    const inline = /^--only=(.*)$/.exec(flag);
    if (flag === "--only" || inline) {
      if (!inline) index += 1;
      const value = inline ? inline[1] : argv[index];
      if (!BENCH_PARTS.includes(value as BenchPart)) fail(`bench: --only takes ${BENCH_PARTS.join(" or ")}, got ${value ?? "nothing"} (${USAGE})`);
      only = value as BenchPart;
    } else if (["--quick", "--profile"].includes(flag)) {
      flags.add(flag);
    } else {
      fail(`bench: unknown option ${flag} (${USAGE})`);
    }
  }
  const parts = only ? [only] : BENCH_PARTS;
  const databaseUrl = env.DATABASE_URL?.trim();
  if (!databaseUrl) {
    fail(
      "bench: DATABASE_URL is not set, so the server would run on the embedded PGlite; the benchmark needs PostgreSQL " +
        "(e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench)",
    );
  }
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
    fail(`bench: DATABASE_URL must be a postgres:// URL (PGlite is not benchmarked); got ${databaseUrl.split(":")[0]}:…`);
  }
  const quick = flags.has("--quick");
  return {
    mode: quick ? "quick" : "full",
    parts,
    profile: flags.has("--profile"),
    databaseUrl,
    // The files part needs only a few signed-in users: no large seed when it runs alone.
    users: quick || !parts.includes("api") ? 100 : 1_000,
    datasetsPerUser: 100,
    connections: 32,
    loginConnections: 8,
    stormLogins: 20,
    bcryptCost: 12,
    scenario: quick ? { warmupSeconds: 1, seconds: 3 } : { warmupSeconds: 3, seconds: 10 },
    sqlFloor: quick ? { warmupSeconds: 0.5, seconds: 3 } : { warmupSeconds: 1, seconds: 10 },
    bareRoute: quick ? { warmupSeconds: 0.5, seconds: 2 } : { warmupSeconds: 1, seconds: 5 },
    soakSeconds: quick ? 0 : 60,
    // The server's own pool size; 32 connections were measured slightly slower here.
    sqlFloorPoolSize: 10,
    quiet: quick ? { totalSeconds: 10, perPhaseSeconds: 3 } : { totalSeconds: 60, perPhaseSeconds: 10 },
    previews: {
      csvBytes: previewSize ?? (quick ? 128 : 1024) * MIB,
      threads: 1,
      memoryLimitBytes: 512 * MIB,
      meRate: 200,
      meConnections: 16,
    },
    files: {
      bigFileBytes: (quick ? 128 : 1024) * MIB,
      chunkBytes: (quick ? 16 : 64) * MIB,
      parallelUploads: 8,
      parallelFileBytes: (quick ? 16 : 100) * MIB,
      meRate: 200,
      meConnections: 16,
      meAloneSeconds: quick ? 3 : 5,
    },
    // 10 × 90 + 10 × 9 + 10 = 1,000 subscriptions.
    events: {
      writers: 10,
      datasetsPerWriter: 89,
      strangers: 10,
      datasetsPerStranger: 8,
      adminSubscriptions: 10,
      commitsPerSecond: 50,
      seconds: quick ? 5 : 20,
    },
  };
}

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}
