import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import type { Database } from "../../src/db/database.js";
import { openPglite } from "../../src/db/pglite.js";
import { openPostgres } from "../../src/db/postgres.js";

/** Which engine the suite runs on: PostgreSQL when TEST_DATABASE_URL is set, else PGlite. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || undefined;
export const ENGINE = TEST_DATABASE_URL ? "postgres" : "pglite";

/** A fresh, empty database for one test file, and how to throw it away. */
export interface TestDatabase {
  database: Database;
  /** For a child process: a DATABASE_URL that lands in the same schema (PostgreSQL only). */
  url: string | undefined;
  /** The fresh schema (PostgreSQL only), for a test that opens its own connections to it. */
  schema?: string;
  drop(): Promise<void>;
}

/** What a test database's connections are opened with (PostgreSQL only). */
export interface TestDatabaseOptions {
  /** PostgreSQL's statement_timeout for the pool (see `openPostgres`). */
  statementTimeoutMs?: number;
}

/** In-memory PGlite, or a new schema on TEST_DATABASE_URL dropped afterwards. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  if (!TEST_DATABASE_URL) {
    const database = await openPglite(undefined, { initialDataDir: await emptyPgliteFiles() });
    return { database, url: undefined, drop: () => database.close().catch(() => undefined) };
  }
  const schema = `test_${randomBytes(6).toString("hex")}`;
  await withAdminClient((client) => client.query(`create schema ${schema}`));
  // Named prepared statements, as the server uses them on a direct connection (DATABASE_PREPARED_STATEMENTS=auto).
  const database = openPostgres({
    connectionString: TEST_DATABASE_URL,
    schema,
    max: 5,
    statementTimeoutMs: options.statementTimeoutMs,
    preparedStatements: true,
  });
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    database,
    url: url.toString(),
    schema,
    async drop() {
      // A test may have closed it already, to see the server without its database.
      await database.close().catch(() => undefined);
      // The job queue's tables live beside ours, in a schema of their own (src/jobs/queue.ts).
      await withAdminClient((client) => client.query(`drop schema if exists ${schema}_pgboss cascade; drop schema ${schema} cascade`));
    },
  };
}

async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * The files of a new, empty PGlite database, made once per PGlite version and machine and
 * kept in the temporary directory: each test file's process starts its databases from them
 * instead of running initdb again (seconds each on a busy machine; see `openPglite`). What
 * they hold is what a fresh in-memory database holds: no migration has run on them.
 * Written under a name of its own, then renamed: runs side by side read a whole file or none.
 */
let emptyFiles: Promise<Blob> | undefined;
function emptyPgliteFiles(): Promise<Blob> {
  emptyFiles ??= (async () => {
    const manifest = new URL("../../node_modules/@electric-sql/pglite/package.json", import.meta.url);
    const { version } = JSON.parse(await readFile(manifest, "utf8")) as { version: string };
    const path = join(tmpdir(), `dataset-api-empty-pglite-${version}.tar`);
    try {
      return new Blob([await readFile(path)]);
    } catch {
      const engine = await PGlite.create("memory://");
      const files = await engine.dumpDataDir("none");
      await engine.close();
      const partial = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
      await writeFile(partial, new Uint8Array(await files.arrayBuffer()));
      await rename(partial, path);
      return files;
    }
  })();
  return emptyFiles;
}
