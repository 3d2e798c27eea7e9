import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * SQL statements per operation, the viewer check included, read from the server's
 * `x-sql-statements` header. A page of datasets with owners must cost the same number of
 * statements whether it has one owner or a hundred (DataLoader batches the owners).
 */
describe("SQL statements per request", () => {
  let server: TestServer;
  let admin: TestUser;

  beforeAll(async () => {
    server = await startServer();
    admin = await createAdmin(server);
  });
  afterAll(() => server.close());

  const ADMIN_PAGE = `
    query($first: Int, $ownerId: ID) {
      adminDatasets(first: $first, filter: { ownerId: $ownerId }) {
        totalCount
        nodes { id name owner { id username email } }
      }
    }`;

  it("runs adminDatasets with 100 different owners in as many statements as with one", async () => {
    const owners: TestUser[] = [];
    for (let index = 0; index < 100; index += 1) owners.push(await createUser(server));
    const single = owners[0]!;
    for (let index = 0; index < 99; index += 1) await createDataset(server, single);
    // The newest 100 datasets: one per owner.
    for (const owner of owners) await createDataset(server, owner);

    const manyOwners = await server.graphql(ADMIN_PAGE, { first: 100 }, { token: admin.token });
    expect(manyOwners.errors).toBeUndefined();
    const ownerIds = new Set(manyOwners.data.adminDatasets.nodes.map((node: any) => node.owner.id));
    expect(ownerIds.size).toBe(100);

    const oneOwner = await server.graphql(ADMIN_PAGE, { first: 100, ownerId: single.id }, { token: admin.token });
    expect(new Set(oneOwner.data.adminDatasets.nodes.map((node: any) => node.owner.id))).toEqual(new Set([single.id]));

    // viewer check + page + owners (one batch) + count
    expect(manyOwners.statements).toBe(4);
    expect(oneOwner.statements).toBe(4);
  });

  it("spends the expected statements on each operation (the viewer check is one)", async () => {
    const user = await createUser(server);
    const dataset = await createDataset(server, user);
    const as = { token: user.token };
    const cases: Array<[string, string, Record<string, unknown>, typeof as | {}, number]> = [
      ["register", `mutation($i: RegisterInput!) { register(input: $i) { user { id email } } }`,
        { i: { email: `${user.username}.2@example.com`, username: `${user.username}_2`, password: "a long enough secret" } }, {}, 4], // throttle, insert, session, audit
      ["login", `mutation($i: LoginInput!) { login(input: $i) { user { id email } } }`,
        { i: { email: user.email, password: user.password } }, {}, 7], // 2 throttle counts, user, 2 throttle resets, session, audit
      ["me", `{ me { id email } }`, {}, as, 1],
      ["datasets with totalCount", `{ datasets(first: 20) { totalCount nodes { id } } }`, {}, as, 3],
      ["datasets without totalCount", `{ datasets(first: 20) { nodes { id } } }`, {}, as, 2],
      ["datasets with owners", `{ datasets(first: 20) { nodes { id owner { id } } } }`, {}, as, 2],
      ["dataset", `query($id: ID!) { dataset(id: $id) { id owner { email } } }`, { id: dataset.id }, as, 2],
      ["createDataset", `mutation { createDataset(input: { name: "x" }) { id owner { id } } }`, {}, as, 2],
      ["updateDataset", `mutation($id: ID!) { updateDataset(id: $id, input: { name: "y" }) { id } }`, { id: dataset.id }, as, 2],
      ["deleteDataset", `mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, as, 2],
    ];
    const session = (await server.graphql(`mutation($i: LoginInput!) { login(input: $i) { refreshToken } }`, {
      i: { email: user.email, password: user.password },
    })).data.login;
    cases.push(
      // throttle, the token (locked), rotation, the user
      ["refreshSession", `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken user { id } } }`, { t: session.refreshToken }, {}, 4],
      ["logout", `mutation($t: String!) { logout(refreshToken: $t) }`, { t: session.refreshToken }, as, 3], // viewer, end it, audit
      // viewer, 2 throttle counts, hash, 2 throttle resets, new password, end sessions, new session, audit
      ["changePassword", `mutation($c: String!) { changePassword(currentPassword: $c, newPassword: "an entirely new secret") { accessToken } }`, { c: user.password }, as, 10],
      // viewer, bump the token version, end sessions, audit
      ["logoutAll", `mutation { logoutAll }`, {}, as, 4],
    );
    for (const [label, query, variables, options, expected] of cases) {
      const response = await server.graphql(query, variables, options);
      // changePassword ended every earlier session: carry on with the one it returned.
      if (label === "changePassword") as.token = response.data?.changePassword.accessToken;
      expect(response.errors, label).toBeUndefined();
      expect(response.statements, label).toBe(expected);
    }
  });
});
