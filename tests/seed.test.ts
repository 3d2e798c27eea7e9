import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "./support/process.js";
import { startServer, type TestServer } from "./support/server.js";

/** `npm run seed` (scripts/seed.ts) against a live server, as a newcomer runs it: twice, and once with no server. */
describe("npm run seed", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  const signIn = async (email: string) => {
    const login = await server.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, {
      input: { email, password: "sample data passphrase" },
    });
    expect(login.errors).toBeUndefined();
    return login.data.login.accessToken as string;
  };

  it("makes the sample users and datasets with committed files, one shared; prints the account; a second run changes nothing", async () => {
    const first = await runScript("scripts/seed.ts", [], { API_URL: server.url });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('sign in as ann@example.com with the password "sample data passphrase"');

    const ann = await signIn("ann@example.com");
    const page = await server.graphql(
      `{ datasets(first: 20, filter: { access: ALL }) { nodes { name owner { username } latestVersion { number files { path contentType } } } } }`,
      {},
      { token: ann },
    );
    expect(page.errors).toBeUndefined();
    const byName = Object.fromEntries(page.data.datasets.nodes.map((node: { name: string }) => [node.name, node]));
    expect(byName["Rainfall 2024"]).toMatchObject({
      owner: { username: "ann" },
      latestVersion: { number: 1, files: [{ path: "data/rainfall.csv" }, { path: "data/stations.parquet" }] },
    });
    // Bob's, shared with ann.
    expect(byName["Soil samples"]).toMatchObject({ owner: { username: "bob" }, latestVersion: { files: [{ path: "samples.jsonl" }] } });
    const bob = await signIn("bob@example.com");
    const shared = await server.graphql(`{ datasets(filter: { access: SHARED }) { nodes { name } } }`, {}, { token: bob });
    expect(shared.data.datasets.nodes).toEqual([{ name: "Rainfall 2024" }]);
    await signIn("cleo@example.com");

    const second = await runScript("scripts/seed.ts", [], { API_URL: server.url });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("nothing changed");
    const again = await server.graphql(`{ datasets(filter: { access: ALL }) { totalCount } }`, {}, { token: ann });
    expect(again.data.datasets.totalCount).toBe(2);
  }, 120_000);

  it("says to start the server first when none answers", async () => {
    const result = await runScript("scripts/seed.ts", [], { API_URL: "http://127.0.0.1:9/graphql" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("start it first (npm start)");
  }, 60_000);
});
