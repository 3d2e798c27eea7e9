import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINE } from "./support/database.js";
import { unique } from "./support/factories.js";
import { post, type RunResult, runScript, startServerProcess } from "./support/process.js";
import { startServer, type TestServer, type UntypedData } from "./support/server.js";

/**
 * `create-admin` as an operator runs it, on either engine: on PGlite against a data folder
 * while no server holds it, on PostgreSQL beside a running server.
 */
interface Deployment {
  /** Runs `npm run create-admin -- …args` against this deployment's database. */
  createAdmin(args: string[]): Promise<RunResult>;
  /** Runs `work` against a live server's /graphql (on PGlite, started for it and stopped after). */
  withServer<T>(work: (url: string) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

async function openDeployment(): Promise<Deployment> {
  if (ENGINE === "postgres") {
    const server: TestServer = await startServer();
    const env = { DATABASE_URL: server.databaseUrl!, BCRYPT_COST: "4" };
    return {
      createAdmin: (args) => runScript("src/cli/create-admin.ts", args, env),
      withServer: (work) => work(server.url),
      close: () => server.close(),
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), "dataset-api-"));
  const env = { DATA_DIR: dataDir, BCRYPT_COST: "4" };
  return {
    createAdmin: (args) => runScript("src/cli/create-admin.ts", args, env),
    async withServer(work) {
      const server = await startServerProcess(env);
      try {
        return await work(server.url);
      } finally {
        expect(await server.stop()).toBe(0);
      }
    },
    close: () => rm(dataDir, { recursive: true, force: true }),
  };
}

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { user { id } } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken user { id role } } }`;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("create-admin and an email someone else registered", () => {
  let deployment: Deployment;
  beforeAll(async () => {
    deployment = await openDeployment();
  });
  afterAll(() => deployment.close());

  // Three server starts and seven runs of the command, each a process of its own.
  it("refuses to take over the account (saying who registered it, when), and promotes it only when asked", { timeout: 240_000 }, async () => {
    const email = `${unique("root")}@example.com`;
    const squatter = unique("mallory");
    const squatterPassword = "mallory's own passphrase";
    const operatorPassword = "the operator's passphrase";
    const squatterId = await deployment.withServer(async (url) => {
      const registered = await post(url, REGISTER, { input: { email, username: squatter, password: squatterPassword } });
      expect(registered.errors).toBeUndefined();
      return registered.data.register.user.id as string;
    });

    const refused = await deployment.createAdmin(["--email", email, "--username", unique("root"), "--password", operatorPassword]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(
      new RegExp(
        `^create-admin: The email ${escapeRegExp(email)} is already registered, by "${squatter}" \\(id ${squatterId}, registered \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\): nothing was changed; .*--promote-existing`,
      ),
    );
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    // The email alone no longer promotes: that has to be asked for.
    const bare = await deployment.createAdmin(["--email", email]);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/is already registered, by/);
    // Promotion keeps the account's password, so a password with it is a mistake.
    const withPassword = await deployment.createAdmin(["--email", email, "--promote-existing", "--password", operatorPassword]);
    expect(withPassword.code).toBe(1);
    expect(withPassword.stderr).toMatch(/leave out --password/);
    // A username given with the flag must be the account's.
    const otherName = await deployment.createAdmin(["--email", email, "--promote-existing", "--username", "someone_else"]);
    expect(otherName.code).toBe(1);
    expect(otherName.stderr).toMatch(new RegExp(`belongs to "${squatter}".*not to "someone_else": nothing was changed`));

    await deployment.withServer(async (url) => {
      const theirs = await post(url, LOGIN, { input: { email, password: squatterPassword } });
      expect(theirs.data.login.user.role).toBe("USER");
      const operator = await post(url, LOGIN, { input: { email, password: operatorPassword } });
      expect(operator.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    });

    const promoted = await deployment.createAdmin(["--email", email, "--promote-existing", "--username", squatter]);
    expect(promoted.stderr).toBe("");
    expect(promoted.code).toBe(0);
    expect(promoted.stdout).toMatch(
      new RegExp(`^Promoted <${escapeRegExp(email)}> "${squatter}" \\(id ${squatterId}, registered .*\\) to admin\\n$`),
    );
    const again = await deployment.createAdmin(["--email", email, "--promote-existing"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/is already an admin: nothing changed/);

    await deployment.withServer(async (url) => {
      const admin = await post(url, LOGIN, { input: { email, password: squatterPassword } });
      expect(admin.data.login.user.role).toBe("ADMIN");
      const audit: UntypedData = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${admin.data.login.accessToken}` },
        body: JSON.stringify({ query: `{ auditEvents(filter: { type: "user.role_changed" }) { nodes { subjectId details actor { id } } } }` }),
      }).then((response) => response.json());
      expect(audit.data.auditEvents.nodes.filter((event: { subjectId: string }) => event.subjectId === squatterId)).toEqual([
        { subjectId: squatterId, details: { from: "USER", to: "ADMIN", by: "create-admin" }, actor: null },
      ]);
    });
  });
});
