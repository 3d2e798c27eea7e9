/**
 * Everything the benchmark takes from the product's code (src/), in one place: when src/ is
 * reorganised, this is the file to follow it. No SQL text comes through here, only the
 * functions the server itself calls (its stores, throttle, audit log, tokens, migrations,
 * and the catalog's statement builders, whose statements the catalog part EXPLAINs exactly
 * as the server builds them), so a changed statement or a new column is the product's
 * business and a changed signature fails `tsc`, not a run.
 *
 * The server itself runs as a child process from SERVER_ENTRY (harness/processes.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createThrottle } from "../../src/auth/throttle.js";

export { createAuditLog } from "../../src/audit/events.js";
export { createThrottle };
export { createAccessTokens } from "../../src/auth/tokens.js";
export { newSecret, secretHash, secretPrefix } from "../../src/auth/personal-secrets.js";
export { insertAccessToken } from "../../src/tokens/store.js";
export { insertDataset, listDatasets } from "../../src/datasets/store.js";
export { type CatalogFilter, catalogPage, catalogSummary, type Statement } from "../../src/datasets/catalog-sql.js";
export { containsPattern } from "../../src/common/search.js";
export type { Queryable } from "../../src/db/database.js";
export { migrate } from "../../src/db/migrate.js";
export { openPostgres } from "../../src/db/postgres.js";
export { createSession } from "../../src/sessions/store.js";
export { findCredentialsByEmail } from "../../src/users/store.js";

/** The server's entry point, relative to a checkout: the build `npm start` runs. */
export const SERVER_ENTRY = "dist/main.js";

/**
 * The options `npm start` gives node before the entry point (package.json's start script,
 * `node <options> dist/main.js`), so that the server measured runs as production starts it.
 */
export function startNodeOptions(checkout: string): string[] {
  const { scripts } = JSON.parse(readFileSync(join(checkout, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const words = scripts.start?.trim().split(/\s+/) ?? [];
  if (words[0] !== "node" || words.at(-1) !== SERVER_ENTRY)
    throw new Error(`${checkout}: npm start is not "node … ${SERVER_ENTRY}": ${scripts.start}`);
  return words.slice(1, -1);
}
/** What `npm start` runs first, relative to a checkout: builds dist/ from src/ when stale. */
export const BUILD_SCRIPT = "scripts/ensure-build.mjs";

/** The throttle's settings, as the server reads them from its configuration. */
export type ThrottleSettings = Parameters<typeof createThrottle>[1];
