/** `npm run migrate`: applies pending migrations to the configured database, then exits. */
import { openDatabase } from "../app.js";
import { loadConfig } from "../config/config.js";
import { migrate } from "../db/migrate.js";
import { createLogger } from "../observability/logger.js";

async function run(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config, logger);
  try {
    const applied = await migrate(database);
    process.stdout.write(applied.length > 0 ? `Applied: ${applied.join(", ")}\n` : "Already up to date\n");
  } finally {
    await database.close();
  }
}

run().catch((error: unknown) => {
  process.stderr.write(`migrate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
