/**
 * What one `npm run bench` does: the mode, the parts, their sizes and durations, read from
 * argv and DATABASE_URL. Every part's sizes are here, so `--quick` reads as one list.
 */

export interface Phase {
  /** Seconds of load before measuring (discarded). */
  warmupSeconds: number;
  /** Seconds measured. */
  seconds: number;
}

/**
 * The benchmark's parts: the GraphQL API scenarios (issue 6), files (issue 11), previews
 * (issue 14), live events (issue 15), exploring tables (issue 23), the public catalog
 * (issue 21), and a side by side run (issue 13) against PostGraphile (`peer`) or another
 * build or setting of this server (`versus`); a side by side run is a run of its own.
 */
export type BenchPart = "api" | "files" | "previews" | "events" | "tables" | "catalog" | "peer" | "versus";
/** In the order they run: the catalog last, as it makes a fifth of the seeded datasets public. */
export const BENCH_PARTS: readonly BenchPart[] = ["api", "files", "previews", "events", "tables", "catalog"];

/** The catalog part's sizes (bench/catalog/). */
export interface CatalogOptions {
  /** Every this-many-th seeded dataset is made public (5: 20,000 of 100,000). */
  publicEvery: number;
  /** Connections of the loaded runs (the API part's); each scenario is also asked one request at a time. */
  connections: number;
  phase: Phase;
  /** One connection: each request answered alone. */
  alonePhase: Phase;
}

/** The previews part's sizes (bench/previews/). */
export interface PreviewsOptions {
  /** The generated CSV (`--preview-size`, e.g. 200MB); its Parquet is what the same rows make. */
  csvBytes: number;
  threads: number;
  memoryLimitBytes: number;
  meRate: number;
  meConnections: number;
}

/** The tables part's sizes (bench/tables/). */
export interface TablesOptions {
  /** The generated CSV explored (the figure: 200 MB). */
  csvBytes: number;
  /** Rows of every page asked for. */
  pageSize: number;
  /** First pages measured, each of a filter no earlier query used. */
  firstPages: number;
  /** Of those queries, how many are followed through `after`, and for how many next pages each. */
  followedQueries: number;
  nextPagesEach: number;
  /** Clients paging through the table at once while `{ __typename }` is asked at a steady rate. */
  pagingClients: number;
  /** Seconds of that; and of `{ __typename }` alone just before. */
  pagingSeconds: number;
  typenameAloneSeconds: number;
  typenameRate: number;
  typenameConnections: number;
  /** The server's table settings (the product's defaults). */
  readers: number;
  readerMemoryLimitBytes: number;
  readerThreads: number;
  /** The profile job's limits, which DuckDB's own SUMMARIZE beside it gets too. */
  previewThreads: number;
  previewMemoryLimitBytes: number;
}

/**
 * How one side of a side by side run starts the project's server: more environment
 * variables, node options, and another checkout to run it from (a before/after pair).
 */
export interface ServerVariant {
  environment: Record<string, string>;
  nodeOptions: string[];
  checkout?: string;
  /**
   * Another node to run it with (`node=/path/to/node`, or `node=machine` for the benchmark's
   * own); by default the benchmark's own, but PostGraphile's Node 22 for A beside PostGraphile.
   */
  node?: string;
  /** As given on the command line ("" for the plain server). */
  label: string;
}

/** `--peer postgraphile` or `--versus …` (bench/side-by-side/): two servers, alternating scenario by scenario. */
export interface SideBySideOptions {
  /** What B is: PostGraphile 5, or the project's server as `--versus` says. */
  against: { kind: "postgraphile" } | ({ kind: "variant" } & ServerVariant);
  /** A: the project's server, as `--ours` says (plain by default). */
  ours: ServerVariant;
  /** Closed-loop runs of each server per scenario, alternating A B A B. */
  rounds: number;
  phase: Phase;
  /** Then runs of each at a fixed rate, half of B's measured capacity (0: none). */
  rateRounds: number;
  ratePhase: Phase;
  /** `--scenarios a,b`: only these (by name); all when absent. */
  scenarios?: string[];
}

/** The live-events part's sizes (bench/events/). */
export interface EventsOptions {
  writers: number;
  /** One-dataset subscriptions of each writer (plus one to everything). */
  datasetsPerWriter: number;
  strangers: number;
  datasetsPerStranger: number;
  /** The admin's all-datasets subscriptions. */
  adminSubscriptions: number;
  commitsPerSecond: number;
  seconds: number;
}

/** The files part's sizes (bench/files/). */
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
  /** Which parts run (`--only api|files|previews|events|tables|catalog`, all six by default; `peer` or `versus` alone for a side by side run). */
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
  /** The bcrypt cost the server runs with (docs/configuration.md: 12 on the reference machine). */
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
  tables: TablesOptions;
  catalog: CatalogOptions;
  /** A side by side run instead of the parts (`parts` is then `peer` or `versus` alone). */
  sideBySide?: SideBySideOptions;
}

const USAGE =
  "usage: npm run bench [-- --quick] [-- --profile] [-- --only api|files|previews|events|tables|catalog] [-- --preview-size 200MB] " +
  "| [-- --peer postgraphile | --versus 'NAME=value --node-option /other/checkout'] [--ours '…'] [--rounds N] [--seconds S] [--warmup S] [--rate-rounds N] [--scenarios a,b] [--profile]";

/** A side by side run's defaults: the 5 rounds of 10 s after 2 s of warm-up, 32 connections. */
const SIDE_BY_SIDE_FULL = { rounds: 5, seconds: 10, warmup: 2, rateRounds: 3 };
const SIDE_BY_SIDE_QUICK = { rounds: 3, seconds: 5, warmup: 1, rateRounds: 1 };

/** `node=machine`: the node running the benchmark (the machine's), also where the default would be another. */
export const MACHINE_NODE = "machine";

/** `NAME=value` words are environment variables, `--words` node options, `node=path` the node to run, anything else the checkout to run from. */
export function parseVariant(spec: string): ServerVariant {
  const variant: ServerVariant = { environment: {}, nodeOptions: [], label: spec.trim() };
  for (const word of spec.split(/\s+/).filter(Boolean)) {
    const assignment = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(word);
    if (word.startsWith("node=")) variant.node = word.slice("node=".length);
    else if (assignment) variant.environment[assignment[1]!] = assignment[2]!;
    else if (word.startsWith("-")) variant.nodeOptions.push(word);
    else if (variant.checkout) fail(`bench: a variant has one checkout to run from, got ${variant.checkout} and ${word}`);
    else variant.checkout = word;
  }
  return variant;
}
const MIB = 2 ** 20;

/** Reads argv and the environment; prints one line and exits 1 when there is nothing to run against. */
export function readOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  let only: BenchPart | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const flag = argv[index]!;
    const inline = /^(--[a-z-]+)=(.*)$/s.exec(flag);
    const name = inline ? inline[1]! : flag;
    if (VALUE_OPTIONS.includes(name)) {
      if (!inline) index += 1;
      const value = inline ? inline[2] : argv[index];
      if (value === undefined) fail(`bench: ${name} needs a value (${USAGE})`);
      values.set(name, value);
    } else if (["--quick", "--profile"].includes(flag)) {
      flags.add(flag);
    } else {
      fail(`bench: unknown option ${flag} (${USAGE})`);
    }
  }
  if (values.has("--only")) {
    const value = values.get("--only")!;
    if (!BENCH_PARTS.includes(value as BenchPart)) fail(`bench: --only takes ${BENCH_PARTS.join(" or ")}, got ${value} (${USAGE})`);
    only = value as BenchPart;
  }
  let previewSize: number | undefined;
  if (values.has("--preview-size")) {
    const value = values.get("--preview-size")!;
    const match = /^(\d+)\s*(MB|MiB|GB|GiB)?$/i.exec(value);
    if (!match) fail(`bench: --preview-size takes a size such as 200MB or 1GiB, got ${value} (${USAGE})`);
    const unit = { MB: 1e6, MIB: 2 ** 20, GB: 1e9, GIB: 2 ** 30 }[(match[2] ?? "MB").toUpperCase() as "MB"];
    previewSize = Number(match[1]) * unit;
  }
  const sideBySide = readSideBySide(values, flags.has("--quick"));
  if (sideBySide && only) fail("bench: --peer and --versus are runs of their own: no --only with them");
  const parts: readonly BenchPart[] = sideBySide ? [sideBySide.against.kind === "postgraphile" ? "peer" : "versus"] : only ? [only] : BENCH_PARTS;
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
  // A side by side run shorter than the (fewer rounds, shorter runs) is a quick one: not written into the docs.
  const quick = flags.has("--quick") || (sideBySide !== undefined && !isFullSideBySide(sideBySide));
  return {
    mode: quick ? "quick" : "full",
    parts,
    profile: flags.has("--profile"),
    databaseUrl,
    // The files part needs only a few signed-in users: no large seed when it runs alone. The
    // catalog is measured at 100,000 datasets, quick or not.
    users: sideBySide || (!quick && parts.includes("api")) || parts.includes("catalog") ? 1_000 : 100,
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
    // The 200 MB table (--quick: a tenth), at the product's default table settings.
    tables: {
      csvBytes: (quick ? 20 : 200) * 1e6,
      pageSize: 100,
      firstPages: quick ? 10 : 30,
      followedQueries: quick ? 3 : 10,
      nextPagesEach: 5,
      pagingClients: 4,
      pagingSeconds: quick ? 5 : 20,
      typenameAloneSeconds: quick ? 3 : 5,
      typenameRate: 100,
      typenameConnections: 4,
      readers: 2,
      readerMemoryLimitBytes: 512 * MIB,
      readerThreads: 1,
      previewThreads: 1,
      previewMemoryLimitBytes: 512 * MIB,
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
    catalog: {
      publicEvery: 5,
      connections: 32,
      phase: quick ? { warmupSeconds: 1, seconds: 3 } : { warmupSeconds: 3, seconds: 10 },
      alonePhase: quick ? { warmupSeconds: 0.5, seconds: 2 } : { warmupSeconds: 1, seconds: 5 },
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
    ...(sideBySide ? { sideBySide } : {}),
  };
}

const VALUE_OPTIONS = [
  "--only",
  "--preview-size",
  "--peer",
  "--versus",
  "--ours",
  "--rounds",
  "--seconds",
  "--warmup",
  "--rate-rounds",
  "--scenarios",
];

function readSideBySide(values: Map<string, string>, quick: boolean): SideBySideOptions | undefined {
  const peer = values.get("--peer");
  const versus = values.get("--versus");
  const sizes = ["--ours", "--rounds", "--seconds", "--warmup", "--rate-rounds", "--scenarios"].filter((name) => values.has(name));
  if (peer === undefined && versus === undefined) {
    if (sizes.length > 0) fail(`bench: ${sizes.join(", ")} go with --peer or --versus (${USAGE})`);
    return undefined;
  }
  if (peer !== undefined && versus !== undefined) fail("bench: one of --peer and --versus at a time");
  if (peer !== undefined && peer !== "postgraphile") fail(`bench: --peer takes postgraphile, got ${peer}`);
  const defaults = quick ? SIDE_BY_SIDE_QUICK : SIDE_BY_SIDE_FULL;
  const number = (name: string, fallback: number, least: number) => {
    const given = values.get(name);
    if (given === undefined) return fallback;
    const value = Number(given);
    if (!Number.isFinite(value) || value < least) fail(`bench: ${name} takes a number ≥ ${least}, got ${given}`);
    return value;
  };
  const rounds = Math.round(number("--rounds", defaults.rounds, 1));
  const seconds = number("--seconds", defaults.seconds, 1);
  const warmupSeconds = number("--warmup", defaults.warmup, 0);
  return {
    against: peer !== undefined ? { kind: "postgraphile" } : { kind: "variant", ...parseVariant(versus!) },
    ours: parseVariant(values.get("--ours") ?? ""),
    rounds,
    phase: { warmupSeconds, seconds },
    rateRounds: Math.round(number("--rate-rounds", defaults.rateRounds, 0)),
    ratePhase: { warmupSeconds, seconds },
    ...(values.has("--scenarios")
      ? {
          scenarios: values
            .get("--scenarios")!
            .split(",")
            .map((name) => name.trim()),
        }
      : {}),
  };
}

function isFullSideBySide(options: SideBySideOptions): boolean {
  const full = SIDE_BY_SIDE_FULL;
  return (
    options.rounds >= full.rounds &&
    options.phase.seconds >= full.seconds &&
    options.phase.warmupSeconds >= full.warmup &&
    options.rateRounds >= full.rateRounds &&
    options.scenarios === undefined
  );
}

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}
