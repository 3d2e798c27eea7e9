import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINE } from "./support/database.js";
import { createUser, unique } from "./support/factories.js";
import { post, runScript, startServerProcess } from "./support/process.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * What an operator does: `npm start` on the embedded database, restarts, `create-admin`,
 * production start-up rules. Each runs the real entry point in its own process.
 */

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id } } }`;

// These tests start the server and the CLIs as processes, several in turn: on a loaded
// machine one start alone can take 25 s, so the default 30 s is not enough.
describe("npm start on the embedded database", { timeout: 120_000 }, () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dataset-api-"));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("keeps data, and tokens issued before, across a restart; create-admin runs only while it is stopped", async () => {
    const env = { DATA_DIR: dataDir, BCRYPT_COST: "4" };
    const first = await startServerProcess(env);
    const name = unique("op");
    const registered = await post(first.url, REGISTER, {
      input: { email: `${name}@example.com`, username: name, password: "a long enough secret" },
    });
    const token = registered.data.register.accessToken;
    await post(first.url, `mutation { createDataset(input: { name: "survives" }) { id } }`, {}, token);

    // While the server holds the folder, create-admin refuses, clearly.
    const busy = await runScript("src/cli/create-admin.ts", ["--email", `${name}@example.com`, "--promote-existing"], env);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/in use by process \d+.*Stop it first/);

    expect(await first.stop()).toBe(0);

    const second = await startServerProcess(env);
    try {
      const me = await post(second.url, `{ me { id role } datasets { nodes { name } } }`, {}, token);
      expect(me.errors).toBeUndefined();
      expect(me.data.me).toEqual({ id: registered.data.register.user.id, role: "USER" });
      expect(me.data.datasets.nodes).toEqual([{ name: "survives" }]);
    } finally {
      expect(await second.stop()).toBe(0);
    }

    // Once it is stopped, create-admin may promote.
    const promoted = await runScript("src/cli/create-admin.ts", ["--email", `${name}@example.com`, "--promote-existing"], env);
    expect(promoted.stderr).toBe("");
    expect(promoted.stdout).toMatch(/Promoted .* to admin/);
  });

  it("create-admin creates a new admin who can then sign in", async () => {
    const env = { DATA_DIR: dataDir, BCRYPT_COST: "4" };
    const name = unique("admin");
    const created = await runScript(
      "src/cli/create-admin.ts",
      ["--email", `${name}@Example.com`, "--username", name, "--password", "a long enough secret"],
      env,
    );
    expect(created.stdout).toMatch(/Created admin/);
    const server = await startServerProcess(env);
    try {
      const login = await post(
        server.url,
        `mutation { login(input: { email: "${name}@example.com", password: "a long enough secret" }) { user { role } } }`,
      );
      expect(login.data.login.user.role).toBe("ADMIN");
    } finally {
      await server.stop();
    }
  });

  it("create-admin refuses bad input with one line naming the field", async () => {
    const env = { DATA_DIR: dataDir, BCRYPT_COST: "4" };
    const weak = await runScript("src/cli/create-admin.ts", ["--email", "new@example.com", "--username", "newadmin", "--password", "password"], env);
    expect(weak.code).toBe(1);
    expect(weak.stderr).toMatch(/^create-admin: password: .*common/);
    const missing = await runScript("src/cli/create-admin.ts", ["--email", "nobody@example.com"], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No user has the email .*--username and --password/);
  });
});

describe.runIf(ENGINE === "postgres")("create-admin on PostgreSQL", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it("promotes a user while the server runs: their old tokens end, and they sign in as an admin", async () => {
    const user = await createUser(server);
    const before = await server.graphql(`{ adminDatasets { totalCount } }`, {}, { token: user.token });
    expect(before.errors![0]!.extensions.code).toBe("FORBIDDEN");
    const result = await runScript("src/cli/create-admin.ts", ["--email", user.email, "--promote-existing"], { DATABASE_URL: server.databaseUrl! });
    expect(result.stdout).toMatch(/Promoted/);
    expect((await server.graphql(`{ me { id } }`, {}, { token: user.token })).status).toBe(401);
    const login = await server.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken user { role } } }`, {
      input: { email: user.email, password: user.password },
    });
    expect(login.data.login.user.role).toBe("ADMIN");
    const after = await server.graphql(`{ adminDatasets { totalCount } }`, {}, { token: login.data.login.accessToken });
    expect(after.errors).toBeUndefined();
  });
});

describe("production start-up rules", { timeout: 120_000 }, () => {
  it.each([
    [{}, /^Cannot start: DATABASE_URL: required in production/],
    [{ DATABASE_URL: "postgres://127.0.0.1:1/none" }, /^Cannot start: JWT_SECRET: required in production/],
    [{ DATABASE_URL: "postgres://127.0.0.1:1/none", JWT_SECRET: "too short" }, /^Cannot start: JWT_SECRET: expected at least 32 bytes/],
    [{ DATABASE_URL: "mysql://x" }, /^Cannot start: DATABASE_URL: expected a postgres/],
    [{ PORT: "eighty" }, /^Cannot start: PORT: expected a whole number/],
  ])("refuses %o with one clear line", async (env, message) => {
    const result = await runScript("src/main.ts", [], { NODE_ENV: "production", DATA_DIR: "/nonexistent", ...env } as Record<string, string>);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("data folder lock", { timeout: 120_000 }, () => {
  it("takes over a lock left by a process that is gone", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "dataset-api-"));
    try {
      await writeFile(join(dataDir, "server.pid"), "999999\n");
      const result = await runScript("src/cli/migrate.ts", [], { DATA_DIR: dataDir });
      expect(result.stderr).toBe("");
      expect(result.stdout).toMatch(/Applied: 001_/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
