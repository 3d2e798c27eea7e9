import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Database, Transaction } from "./database.js";

/** The folder of numbered `.sql` migrations shipped with the server. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

/**
 * Any fixed 64-bit number shared by every instance: while one holds this advisory lock,
 * others starting at the same moment wait, then find the migration already recorded.
 */
const MIGRATION_LOCK = 7_261_534_501;

interface Migration {
  version: string;
  sql: string;
}

/**
 * Applies every migration in `directory` not yet recorded in `schema_migrations`, in
 * order, each in its own transaction under a transaction-scoped advisory lock (which also
 * works behind a transaction-pooling pgbouncer). Returns the versions it applied.
 */
export async function migrate(database: Database, directory = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(directory);
  const applied: string[] = [];
  for (const migration of migrations) {
    const ran = await database.transaction(async (tx) => {
      await lock(tx);
      const done = await tx.query("select 1 from schema_migrations where version = $1", [migration.version]);
      if (done.length > 0) return false;
      await tx.script(migration.sql);
      await tx.query("insert into schema_migrations (version) values ($1)", [migration.version]);
      return true;
    });
    if (ran) applied.push(migration.version);
  }
  return applied;
}

async function lock(tx: Transaction): Promise<void> {
  // No statement timeout (the pool's, or the role's): a migration may rebuild a large index.
  await tx.script("set local statement_timeout = 0");
  // As a script: waiting for another instance's long migration is not a statement timeout.
  await tx.script(`select pg_advisory_xact_lock(${MIGRATION_LOCK})`);
  await tx.query(
    `create table if not exists schema_migrations (
       version    text primary key,
       applied_at timestamptz not null default now()
     )`,
  );
}

async function readMigrations(directory: string): Promise<Migration[]> {
  const names = (await readdir(directory)).filter((name) => /^\d+_[\w-]+\.sql$/.test(name)).sort();
  return Promise.all(
    names.map(async (name) => ({
      version: name.replace(/\.sql$/, ""),
      sql: await readFile(`${directory}/${name}`, "utf8"),
    })),
  );
}
