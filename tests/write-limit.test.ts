import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser } from "./support/factories.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";

const COUNT = `{ datasets(first: 100) { totalCount nodes { name } } }`;

/** Mutations by one signed-in user per minute (WRITE_MAX_PER_USER), 3 here. */
describe("the write limit per user", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ WRITE_MAX_PER_USER: "3" });
  });
  afterAll(() => server.close());

  it("refuses a user's 4th write in the minute with RATE_LIMITED, writing nothing, and not another user's", async () => {
    const user = await createUser(server);
    const kept = await createDataset(server, user, { name: "kept" });
    await createDataset(server, user);
    await createDataset(server, user);

    const refused = await server.graphql(`mutation { createDataset(input: { name: "refused" }) { id } }`, {}, { token: user.token });
    expect(errorCode(refused)).toBe("RATE_LIMITED");
    expect(refused.status).toBe(429);
    const retryAfter = refused.errors![0]!.extensions.retryAfter;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get("retry-after")).toBe(String(retryAfter));
    // Every mutation counts, not only creation.
    const update = await server.graphql(
      `mutation($id: ID!) { updateDataset(id: $id, input: { name: "renamed" }) { id } }`,
      { id: kept.id },
      { token: user.token },
    );
    expect(errorCode(update)).toBe("RATE_LIMITED");
    expect(errorCode(await server.graphql(`mutation { logoutAll }`, {}, { token: user.token }))).toBe("RATE_LIMITED");

    // Reads go on; nothing of the refused writes happened.
    const listed = await server.graphql(COUNT, {}, { token: user.token });
    expect(listed.errors).toBeUndefined();
    expect(listed.data.datasets.totalCount).toBe(3);
    expect(listed.data.datasets.nodes.map((node: { name: string }) => node.name)).toContain("kept");

    const other = await createUser(server);
    await createDataset(server, other);
  });

  it("counts each aliased mutation of one request", async () => {
    const user = await createUser(server);
    const creates = Array.from({ length: 5 }, (_, index) => `c${index}: createDataset(input: { name: "d${index}" }) { id }`).join("\n");
    const response = await server.graphql(`mutation { ${creates} }`, {}, { token: user.token });
    expect(response.errors!.map((error) => [error.path, error.extensions.code])).toEqual([[["c3"], "RATE_LIMITED"]]);
    const listed = await server.graphql(COUNT, {}, { token: user.token });
    expect(listed.data.datasets.nodes.map((node: { name: string }) => node.name).sort()).toEqual(["d0", "d1", "d2"]);
  });

  it("does not count a mutation the policy refuses, nor anyone's sign-in", async () => {
    const user = await createUser(server);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const forbidden = await server.graphql(
        `mutation($id: ID!) { setUserActive(userId: $id, active: false) { id } }`,
        { id: user.id },
        { token: user.token },
      );
      expect(errorCode(forbidden)).toBe("FORBIDDEN");
      const login = await server.graphql(`mutation($i: LoginInput!) { login(input: $i) { accessToken } }`, {
        i: { email: user.email, password: user.password },
      });
      expect(login.errors).toBeUndefined();
    }
    await createDataset(server, user);
  });
});
