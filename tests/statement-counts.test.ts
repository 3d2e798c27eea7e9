import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * SQL statements per operation, read from the server's `x-sql-statements` header: once
 * with the viewer cache on and warm (a session already seen: its viewer check costs no
 * statement), once with it off (VIEWER_CACHE_SIZE=0: the viewer check is one statement).
 * A page of datasets with owners must cost the same whether it has one owner or a hundred.
 */
const SETUPS: Array<[string, Record<string, string>, number]> = [
  ["the viewer cache on and warm", {}, 0],
  ["the viewer cache off", { VIEWER_CACHE_SIZE: "0" }, 1],
];

describe.each(SETUPS)("SQL statements per request, with %s", (_label, env, viewerCheck) => {
  let server: TestServer;
  let admin: TestUser;

  beforeAll(async () => {
    server = await startServer(env);
    admin = await createAdmin(server);
  });
  afterAll(() => server.close());

  /** A request with `token` first, so that the cache (when on) holds its session. */
  const warm = (token: string) => server.graphql(`{ me { id } }`, {}, { token });

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
    await warm(admin.token);

    const manyOwners = await server.graphql(ADMIN_PAGE, { first: 100 }, { token: admin.token });
    expect(manyOwners.errors).toBeUndefined();
    const ownerIds = new Set(manyOwners.data.adminDatasets.nodes.map((node: { owner: { id: string } }) => node.owner.id));
    expect(ownerIds.size).toBe(100);

    const oneOwner = await server.graphql(ADMIN_PAGE, { first: 100, ownerId: single.id }, { token: admin.token });
    expect(new Set(oneOwner.data.adminDatasets.nodes.map((node: { owner: { id: string } }) => node.owner.id))).toEqual(new Set([single.id]));

    // One statement: the page, its owners and the count.
    expect(manyOwners.statements).toBe(viewerCheck + 1);
    expect(oneOwner.statements).toBe(viewerCheck + 1);
  });

  it("runs a page of 20 datasets, owned and shared, with viewerAccess and collaborators in a fixed number of statements", async () => {
    const viewer = await createUser(server);
    const others: TestUser[] = [];
    for (let index = 0; index < 12; index += 1) others.push(await createUser(server));
    const share = (owner: TestUser, datasetId: string, username: string) =>
      server.graphql(
        `mutation($d: ID!, $u: String!) { shareDataset(datasetId: $d, username: $u, role: VIEWER) { role } }`,
        { d: datasetId, u: username },
        { token: owner.token },
      );
    // Ten of the viewer's own, each shared with two others; ten of ten other owners, shared with the viewer.
    for (let index = 0; index < 10; index += 1) {
      const own = await createDataset(server, viewer);
      for (const other of [others[10]!, others[11]!]) expect((await share(viewer, own.id, other.username)).errors).toBeUndefined();
      const theirs = await createDataset(server, others[index]!);
      expect((await share(others[index]!, theirs.id, viewer.username)).errors).toBeUndefined();
    }
    await warm(viewer.token);
    const PAGE = `query($first: Int) {
      datasets(first: $first, filter: { access: ALL }) {
        totalCount
        nodes { id viewerAccess owner { username } collaborators { role addedAt user { username } addedBy { username } } }
      }
    }`;
    const page = await server.graphql(PAGE, { first: 20 }, { token: viewer.token });
    expect(page.errors).toBeUndefined();
    expect(page.data.datasets.nodes).toHaveLength(20);
    const accesses = page.data.datasets.nodes.map((node: { viewerAccess: string }) => node.viewerAccess).sort();
    expect(accesses).toEqual([...Array(10).fill("OWNER"), ...Array(10).fill("VIEWER")]);
    const collaborators = page.data.datasets.nodes.flatMap((node: { collaborators: unknown[] }) => node.collaborators);
    expect(collaborators).toHaveLength(30);
    // The page with its count and owners, the viewer's access to each, the collaborators with
    // their users, and the users who shared (batched): four, whatever the page holds.
    expect(page.statements).toBe(viewerCheck + 4);
    const small = await server.graphql(PAGE, { first: 2 }, { token: viewer.token });
    expect(small.statements).toBeLessThanOrEqual(viewerCheck + 4);
  });

  it("spends the expected statements on each operation", async () => {
    const user = await createUser(server);
    const dataset = await createDataset(server, user);
    const as = { token: user.token };
    await warm(as.token);
    // [label, operation, variables, signed in?, statements besides the viewer check]
    const cases: Array<[string, string, Record<string, unknown>, boolean, number]> = [
      [
        "register",
        `mutation($i: RegisterInput!) { register(input: $i) { user { id email } } }`,
        { i: { email: `${user.username}.2@example.com`, username: `${user.username}_2`, password: "a long enough secret" } },
        false,
        4,
      ], // throttle, insert, session, audit
      [
        "login",
        `mutation($i: LoginInput!) { login(input: $i) { user { id email } } }`,
        { i: { email: user.email, password: user.password } },
        false,
        9,
      ], // 3 throttle counts, user, 3 throttle resets, session, audit
      ["me", `{ me { id email } }`, {}, true, 0],
      ["datasets with totalCount", `{ datasets(first: 20) { totalCount nodes { id } } }`, {}, true, 1],
      ["datasets without totalCount", `{ datasets(first: 20) { nodes { id } } }`, {}, true, 1],
      ["datasets with owners", `{ datasets(first: 20) { nodes { id owner { id } } } }`, {}, true, 1],
      ["dataset", `query($id: ID!) { dataset(id: $id) { id owner { email } } }`, { id: dataset.id }, true, 1],
      // The viewer's access comes with the row.
      ["dataset with viewerAccess", `query($id: ID!) { dataset(id: $id) { id viewerAccess } }`, { id: dataset.id }, true, 1],
      // write limit, the dataset locked with the access, the user, their role now, the share, audit, notify
      [
        "shareDataset",
        `mutation($d: ID!, $u: String!) { shareDataset(datasetId: $d, username: $u, role: EDITOR) { role user { id } addedBy { id } } }`,
        { d: dataset.id, u: admin.username },
        true,
        7,
      ],
      // write limit, the dataset locked with the access, the share removed, audit, notify
      ["unshareDataset", `mutation($d: ID!, $u: ID!) { unshareDataset(datasetId: $d, userId: $u) }`, { d: dataset.id, u: admin.id }, true, 5],
      // Each mutation by a signed-in user: the write limit's count, then the change.
      ["createDataset", `mutation { createDataset(input: { name: "x" }) { id owner { id } } }`, {}, true, 2],
      // A change and its live event (NOTIFY, in the change's transaction).
      ["updateDataset", `mutation($id: ID!) { updateDataset(id: $id, input: { name: "y" }) { id } }`, { id: dataset.id }, true, 3],
      ["deleteDataset", `mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, true, 3],
    ];
    const session = (
      await server.graphql(`mutation($i: LoginInput!) { login(input: $i) { refreshToken } }`, {
        i: { email: user.email, password: user.password },
      })
    ).data.login;
    cases.push(
      // throttle, the token (locked), rotation, the user
      [
        "refreshSession",
        `mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken user { id } } }`,
        { t: session.refreshToken },
        false,
        4,
      ],
      ["logout", `mutation($t: String!) { logout(refreshToken: $t) }`, { t: session.refreshToken }, true, 3], // write limit, end it, audit
      // write limit, 3 throttle counts, hash, 3 throttle resets, new password, end sessions, new session, audit
      [
        "changePassword",
        `mutation($c: String!) { changePassword(currentPassword: $c, newPassword: "an entirely new secret") { accessToken } }`,
        { c: user.password },
        true,
        12,
      ],
      // write limit, bump the token version, end sessions, audit
      ["logoutAll", `mutation { logoutAll }`, {}, true, 4],
    );
    for (const [label, query, variables, signedIn, expected] of cases) {
      const response = await server.graphql(query, variables, signedIn ? as : {});
      expect(response.errors, label).toBeUndefined();
      expect(response.statements, label).toBe(expected + (signedIn ? viewerCheck : 0));
      if (label === "changePassword") {
        // It ended every earlier session: carry on with the one it returned, once seen.
        as.token = response.data.changePassword.accessToken;
        await warm(as.token);
      }
    }
  });
});
