/**
 * `npm run create-admin -- --email E --username U --password P`
 * Creates the user as ADMIN, or promotes the existing user with that email.
 * On PostgreSQL (DATABASE_URL) it runs at any time; on the embedded database only while
 * the server is stopped, since PGlite's folder belongs to one process.
 */
import { parseArgs } from "node:util";
import { openDatabase } from "../app.js";
import { createOrPromoteAdmin } from "../admin/create-admin.js";
import { createPasswordHasher } from "../auth/passwords.js";
import { loadConfig } from "../config.js";
import { migrate } from "../db/migrate.js";
import { ClientError } from "../errors.js";
import { createLogger } from "../logger.js";

const USAGE = "usage: npm run create-admin -- --email E [--username U --password P]";

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: { email: { type: "string" }, username: { type: "string" }, password: { type: "string" } },
    strict: true,
  });
  if (!values.email) throw new Error(`--email is required\n${USAGE}`);

  const config = loadConfig();
  const logger = createLogger("warn");
  const database = await openDatabase(config, logger);
  try {
    await migrate(database);
    const { user, created } = await createOrPromoteAdmin(database, createPasswordHasher(config.bcryptCost), {
      email: values.email,
      username: values.username,
      password: values.password,
    });
    process.stdout.write(
      created
        ? `Created admin ${user.username} <${user.email}> (id ${user.id})\n`
        : `Promoted ${user.username} <${user.email}> (id ${user.id}) to admin\n`,
    );
  } finally {
    await database.close();
  }
}

run().catch((error: unknown) => {
  const message =
    error instanceof ClientError
      ? `${String(error.extensions.field ?? "input")}: ${error.message}`
      : error instanceof Error
        ? error.message
        : String(error);
  process.stderr.write(`create-admin: ${message}\n`);
  process.exit(1);
});
