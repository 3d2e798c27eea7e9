import { randomBytes } from "node:crypto";
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
    const database = await openPglite(undefined);
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
