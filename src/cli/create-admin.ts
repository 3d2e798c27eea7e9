/**
 * `npm run create-admin -- --email E --username U --password P` creates a new user as ADMIN;
 * `npm run create-admin -- --email E --promote-existing [--username U]` promotes the account
 * that already has that email. Without the flag, an existing account is never touched
 * (someone else may have registered the email first): the command refuses, saying who
 * registered it and when. On PostgreSQL (DATABASE_URL) it runs at any time; on the embedded database only while
 * the server is stopped, since PGlite's folder belongs to one process.
 */
import { parseArgs } from "node:util";
import { openDatabase } from "../app.js";
import { createOrPromoteAdmin, describeAccount } from "../admin/create-admin.js";
import { createAuditLog } from "../audit/events.js";
import { createPasswordHasher } from "../auth/passwords.js";
import { loadConfig } from "../config/config.js";
import { migrate } from "../db/migrate.js";
import { ClientError } from "../common/errors.js";
import { createLogger } from "../observability/logger.js";

const USAGE = [
  "usage: npm run create-admin -- --email E --username U --password P   (a new admin)",
  "       npm run create-admin -- --email E --promote-existing [--username U]   (an account that exists)",
].join("\n");

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: {
      email: { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
      "promote-existing": { type: "boolean" },
    },
    strict: true,
  });
  if (!values.email) throw new Error(`--email is required\n${USAGE}`);

  const config = loadConfig();
  const logger = createLogger("warn");
  const database = await openDatabase(config, logger);
  try {
    await migrate(database);
    // A command-line run has no /metrics: its audit event is written, and counted nowhere.
    const { user, outcome } = await createOrPromoteAdmin(database, createPasswordHasher(config.bcryptCost), createAuditLog(), {
      email: values.email,
      username: values.username,
      password: values.password,
      promoteExisting: values["promote-existing"] ?? false,
    });
    const account = `<${user.email}> ${describeAccount(user)}`;
    process.stdout.write(
      outcome === "created"
        ? `Created admin ${user.username} <${user.email}> (id ${user.id})\n`
        : outcome === "promoted"
          ? `Promoted ${account} to admin\n`
          : `${account} is already an admin: nothing changed\n`,
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
