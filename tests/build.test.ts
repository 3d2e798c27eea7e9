import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, ENGINE, type TestDatabase } from "./support/database.js";
import { unique } from "./support/factories.js";
import { post, runScript, startServerProcess } from "./support/process.js";

/**
 * What `npm start` runs: `node dist/main.js`, built by `npm run build` (tsconfig.build.json).
 * Everything the built code reads at run time (the SDL, the migrations, the bcrypt worker,
 * the playground's packages in development) must be found from dist/ as from src/. On
 * PostgreSQL it starts in production; on PGlite in development, with the playground.
 */

const ROOT = fileURLToPath(new URL("../", import.meta.url));

describe("the build (npm run build, then node dist/main.js)", () => {
  let dataDir: string;
  let database: TestDatabase | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    const build = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: ROOT, encoding: "utf8" });
    expect(build.stdout + build.stderr).toBe("");
    expect(build.status).toBe(0);

    dataDir = await mkdtemp(join(tmpdir(), "dataset-api-"));
    if (ENGINE === "postgres") {
      database = await createTestDatabase();
      env = { NODE_ENV: "production", DATABASE_URL: database.url!, JWT_SECRET: randomBytes(48).toString("base64"), BCRYPT_COST: "10" };
    } else {
      env = { DATA_DIR: dataDir, BCRYPT_COST: "4" };
    }
  }, 180_000);
  afterAll(async () => {
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("starts, answers { __typename }, hashes a password in its worker, and stops with exit code 0", async () => {
    const server = await startServerProcess(env, "dist/main.js");
    try {
      expect((await post(server.url, "{ __typename }")).data).toEqual({ __typename: "Query" });

      const name = unique("built");
      const registered = await post(server.url, `mutation($input: RegisterInput!) { register(input: $input) { user { username } } }`, {
        input: { email: `${name}@example.com`, username: name, password: "a long enough secret" },
      });
      expect(registered.errors).toBeUndefined();
      expect(registered.data.register.user.username).toBe(name);

      const page = await fetch(server.url, { headers: { accept: "text/html" } });
      if (ENGINE === "postgres") {
        // Production: the playground is not even loaded, the endpoint answers as GraphQL.
        expect(page.headers.get("content-type")).not.toMatch(/text\/html/);
      } else {
        expect(page.headers.get("content-type")).toMatch(/^text\/html/);
        expect(await page.text()).toContain("graphiql.min.js");
      }
    } finally {
      expect(await server.stop()).toBe(0);
    }
    // A first start creates the embedded database: slow on a busy machine, and not what is tested.
  }, 120_000);

  it("npm start's build step: skipped when dist/ was built from these very sources, done again when its stamp is stale", async () => {
    const ensureBuild = () => runScript("scripts/ensure-build.mjs", [], {});
    // The first may build (the stamp is written only by this step).
    expect((await ensureBuild()).code).toBe(0);
    const stampFile = join(ROOT, "dist/.source-stamp");
    const stamp = readFileSync(stampFile, "utf8");
    expect(stamp).toMatch(/^[0-9a-f]{64} [0-9a-f]{64}\n$/);
    const builtAt = statSync(join(ROOT, "dist/main.js")).mtimeMs;

    const second = await ensureBuild();
    expect(second.code).toBe(0);
    expect(second.stderr).toContain("dist/ is current");
    expect(statSync(join(ROOT, "dist/main.js")).mtimeMs).toBe(builtAt);

    // Another dist/ than the stamp says (as after `npm run build` of other sources): built again.
    writeFileSync(stampFile, "stale\n");
    const third = await ensureBuild();
    expect(third.code).toBe(0);
    expect(third.stderr).not.toContain("dist/ is current");
    expect(readFileSync(stampFile, "utf8")).toBe(stamp);
  }, 180_000);

  it("runs the migrations from dist/cli/migrate.js", async () => {
    const result = await runScript("dist/cli/migrate.js", [], env);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("Already up to date\n");
    expect(result.code).toBe(0);
  }, 60_000);
});
