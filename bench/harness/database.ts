/**
 * The benchmark's throw-away schema (`bench_<random>`, dropped at the end) on the given
 * PostgreSQL: the project's migrations, 1,000 users (one admin) and 100,000 datasets seeded
 * set-based (harness/seed.ts, as scripts/explain.ts does), and signed-in users with live
 * sessions made by the server's own session store.
 */
import { randomBytes } from "node:crypto";
import bcrypt from "bcryptjs";
import pg from "pg";
import { log, onCleanup } from "./lifecycle.js";
import {
  createAccessTokens,
  createSession,
  insertAccessToken,
  migrate,
  newSecret,
  openPostgres,
  type Queryable,
  secretHash,
  secretPrefix,
} from "./product.js";
import { seedDatasets, seededUsers, seedUsers } from "./seed.js";

export interface BenchDatabase {
  schema: string;
  /** Every connection the benchmark and its server open carries this name (for clean-up). */
  applicationName: string;
  /** The connection string that lands in the schema: the server's DATABASE_URL. */
  url: string;
  /** A pool in the schema. */
  pool(max: number): pg.Pool;
  /** `select version()` and a few settings that matter for the figures. */
  facts: { version: string; settings: Record<string, string> };
  /** The pids of the PostgreSQL backends serving this run (for their CPU time). */
  backendPids(): Promise<number[]>;
}

/** Creates the schema and registers its removal (after the server and pools are gone). */
export async function createBenchDatabase(baseUrl: string): Promise<BenchDatabase> {
  const id = randomBytes(5).toString("hex");
  const schema = `bench_${id}`;
  const applicationName = `bench_${id}`;
  const url = new URL(baseUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  url.searchParams.set("application_name", applicationName);

  const facts = await withAdminClient(baseUrl, async (client) => {
    await client.query(`create schema ${schema}`);
    const version = (await client.query<{ version: string }>("select version()")).rows[0]!.version;
    const settings: Record<string, string> = {};
    for (const name of ["server_version", "shared_buffers", "max_connections", "synchronous_commit", "jit"]) {
      settings[name] = (await client.query<Record<string, string>>(`show ${name}`)).rows[0]![name]!;
    }
    return { version, settings };
  });
  onCleanup(`drop schema ${schema}`, () =>
    withAdminClient(baseUrl, async (client) => {
      // Anything of ours still connected (an interrupted run) would hold locks the drop waits for.
      await client.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()", [
        applicationName,
      ]);
      // The previews' job queue keeps its tables in a schema of its own beside ours (src/jobs/queue.ts).
      await client.query(`drop schema if exists ${schema}_pgboss cascade`);
      await client.query(`drop schema if exists ${schema} cascade`);
      log(`dropped schema ${schema}`);
    }),
  );

  const database = openPostgres({ connectionString: url.toString(), max: 1 });
  try {
    await migrate(database);
  } finally {
    await database.close();
  }
  const monitor = new pg.Client({ connectionString: baseUrl, application_name: "bench_monitor" });
  await monitor.connect();
  monitor.on("error", () => undefined);
  onCleanup("close the monitoring connection", () => monitor.end());
  return {
    backendPids: async () =>
      (await monitor.query<{ pid: number }>("select pid from pg_stat_activity where application_name = $1", [applicationName])).rows.map(
        (row) => row.pid,
      ),
    schema,
    applicationName,
    url: url.toString(),
    facts,
    pool: (max) => {
      const pool = new pg.Pool({ connectionString: url.toString(), max });
      pool.on("error", () => undefined);
      return pool;
    },
  };
}

async function withAdminClient<T>(connectionString: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString, application_name: "bench_admin" });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface SeedSize {
  users: number;
  datasetsPerUser: number;
  bcryptCost: number;
}

/** Every seeded user's password (one real bcrypt hash at the server's cost, shared by all). */
export const PASSWORD = "bench passphrase 2024";

/** Seeds users (the first an admin) and datasets set-based; owners are interleaved in time. Returns the time it took. */
export async function seed(database: BenchDatabase, size: SeedSize): Promise<number> {
  const started = performance.now();
  const passwordHash = await bcrypt.hash(PASSWORD, size.bcryptCost);
  const pool = database.pool(1);
  try {
    await seedUsers(pool, { count: size.users, passwordHash, admins: 1 });
    await seedDatasets(pool, { count: size.users * size.datasetsPerUser, users: size.users });
    // A live database is vacuumed: visibility maps set, statistics fresh.
    await pool.query("vacuum analyze users");
    await pool.query("vacuum analyze datasets");
  } finally {
    await pool.end();
  }
  return performance.now() - started;
}

/** A signed-in user: a live session and an access token bound to it. */
export interface Actor {
  userId: string;
  sessionId: string;
  email: string;
  token: string;
  /** A personal access token (`dpat_…`) of the same user, READ, for every dataset: `me` through it is measured against the session's. */
  personalToken: string;
}

export interface Fixtures {
  /** The one admin (`user_0001`, seeded so), signed in `connections` times: one token per session. */
  admin: Actor[];
  /** Users whose datasets are read (100 each, never written to during the run). */
  readers: Actor[];
  /** Users who create datasets. */
  writers: Actor[];
  /** Emails that sign in (with PASSWORD); none of them is a reader or writer. */
  loginEmails: string[];
}

/** A session's refresh token lifetime (the benchmark never refreshes). */
const SESSION_LIFETIMES = { refreshTokenTtlSeconds: 86_400, refreshReuseIntervalSeconds: 60 };

/**
 * Signs in the admin (`user_0001`) `count` times, the next `count` users as readers and the
 * `count` after as writers: sessions started by the server's session store, tokens signed
 * with the server's own code and secret (a bcrypt login per user would take minutes at cost 12).
 */
export async function signIn(database: BenchDatabase, secret: string, count: number): Promise<Fixtures> {
  const tokens = await createAccessTokens({ secret, signingKey: undefined, ttlSeconds: 3600 });
  const pool = database.pool(1);
  const db: Queryable = {
    query: async (text, params) => (await pool.query(text, params as unknown[] | undefined)).rows,
    queryArrays: async (text, params) => (await pool.query({ text, values: params as unknown[] | undefined, rowMode: "array" })).rows,
  };
  try {
    const users = await seededUsers(pool);
    if (users.length < 2 * count + 2) throw new Error(`need at least ${2 * count + 2} users, seeded ${users.length}`);
    const actors = async (group: typeof users): Promise<Actor[]> => {
      const signedIn: Actor[] = [];
      for (const user of group) {
        const { sessionId } = await createSession(db, user.id, SESSION_LIFETIMES);
        const token = await tokens.sign({ userId: user.id, tokenVersion: user.tokenVersion, sessionId });
        const personalToken = newSecret();
        await insertAccessToken(db, {
          userId: user.id,
          name: "bench",
          scope: "READ",
          datasetIds: null,
          prefix: secretPrefix(personalToken),
          secretHash: secretHash(personalToken),
          expiresInDays: null,
        });
        signedIn.push({ userId: user.id, sessionId, email: user.email, token, personalToken });
      }
      return signedIn;
    };
    return {
      admin: await actors(Array.from({ length: count }, () => users[0]!)),
      readers: await actors(users.slice(1, 1 + count)),
      writers: await actors(users.slice(1 + count, 1 + 2 * count)),
      loginEmails: users.slice(1 + 2 * count).map((user) => user.email),
    };
  } finally {
    await pool.end();
  }
}
