import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ENGINE } from "./support/database.js";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { errorCode, startServer, type GraphQLResponse, type TestServer, type UntypedData } from "./support/server.js";

/** Admin user management: the `users` list, `setUserRole`, `setUserActive`, through HTTP. */

const USER = "id username email role active createdAt updatedAt";
const USERS = `query($first: Int, $after: String, $search: String) {
  users(first: $first, after: $after, search: $search) {
    totalCount
    edges { cursor node { ${USER} } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;
const SET_ROLE = `mutation($userId: ID!, $role: Role!) { setUserRole(userId: $userId, role: $role) { ${USER} } }`;
const SET_ACTIVE = `mutation($userId: ID!, $active: Boolean!) { setUserActive(userId: $userId, active: $active) { ${USER} } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id role active } } }`;
const REFRESH = `mutation($token: String!) { refreshSession(refreshToken: $token) { accessToken user { id role } } }`;
const ME = `{ me { id role active } }`;

interface UserNode {
  id: string;
  username: string;
  email: string;
  role: "USER" | "ADMIN";
  active: boolean;
  createdAt: string;
  updatedAt: string;
}

interface Session {
  accessToken: string;
  refreshToken: string;
  user: { id: string; role: string; active: boolean };
}

/** Helpers bound to one server. */
function on(server: () => TestServer) {
  const as = (user: TestUser | string) => ({ token: typeof user === "string" ? user : user.token });
  return {
    setRole: (actor: TestUser, userId: string, role: string) => server().graphql(SET_ROLE, { userId, role }, as(actor)),
    setActive: (actor: TestUser, userId: string, active: boolean) => server().graphql(SET_ACTIVE, { userId, active }, as(actor)),
    me: (token: string) => server().graphql(ME, {}, { token }),
    /** Signs in; the returned user carries the new token. */
    async login(user: TestUser): Promise<Session & { as: TestUser }> {
      const response = await server().graphql(LOGIN, { input: { email: user.email, password: user.password } });
      expect(response.errors).toBeUndefined();
      const session: Session = response.data.login;
      return { ...session, as: { ...user, token: session.accessToken } };
    },
    /** The access token fails its next request as a whole, with 401. */
    async expectRevoked(token: string) {
      const response = await server().graphql(ME, {}, { token });
      expect(response.status).toBe(401);
      expect(errorCode(response)).toBe("UNAUTHENTICATED");
    },
    async activeAdminCount(): Promise<number> {
      const [row] = await server().database.query<{ count: number }>("select count(*)::int as count from users where role = 'ADMIN' and active");
      return row!.count;
    },
  };
}

/** The request failed as a whole with exactly one error of `code` (naming `field`, if given). */
function expectError(response: GraphQLResponse, code: string, field?: string) {
  expect(response.errors, JSON.stringify(response.errors)).toHaveLength(1);
  expect(errorCode(response)).toBe(code);
  if (field !== undefined) expect(response.errors![0]!.extensions.field).toBe(field);
  expect(response.data ?? null).toBeNull();
}

function expectOk(response: GraphQLResponse) {
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data;
}

/** A tag of lower-case letters and digits, unique in the run, to find one test's users by. */
const tag = () => `t${randomUUID().replaceAll("-", "").slice(0, 12)}`;

describe("admin user management", () => {
  let server: TestServer;
  let admin: TestUser;
  const s = on(() => server);

  beforeAll(async () => {
    server = await startServer();
    admin = await createAdmin(server);
  });
  afterAll(() => server.close());

  const list = async (variables: Record<string, unknown>, viewer: TestUser = admin) =>
    expectOk(await server.graphql(USERS, variables, { token: viewer.token })).users;
  const usernames = async (search: string) =>
    ((await list({ first: 100, search })).edges as Array<{ node: UserNode }>).map((edge) => edge.node.username).sort();

  describe("who may", () => {
    it("refuses users, setUserRole and setUserActive: UNAUTHENTICATED anonymous, FORBIDDEN for a user; nothing changes", async () => {
      const [user, target] = [await createUser(server), await createUser(server)];
      const attempts = [
        { query: USERS, variables: {} },
        { query: SET_ROLE, variables: { userId: target.id, role: "ADMIN" } },
        { query: SET_ROLE, variables: { userId: user.id, role: "ADMIN" } },
        { query: SET_ACTIVE, variables: { userId: target.id, active: false } },
        { query: SET_ACTIVE, variables: { userId: admin.id, active: false } },
      ];
      for (const { query, variables } of attempts) {
        expectError(await server.graphql(query, variables), "UNAUTHENTICATED");
        expectError(await server.graphql(query, variables, { token: user.token }), "FORBIDDEN");
      }
      // No role or state changed, and no token was revoked.
      for (const [someone, role] of [
        [user, "USER"],
        [target, "USER"],
        [admin, "ADMIN"],
      ] as const) {
        expect(expectOk(await s.me(someone.token)).me).toEqual({ id: someone.id, role, active: true });
      }
    });

    it("shows a user their own active flag through me", async () => {
      const user = await createUser(server);
      expect(expectOk(await s.me(user.token)).me).toEqual({ id: user.id, role: "USER", active: true });
    });
  });

  describe("users", () => {
    /** Walks `search`'s list in pages of `first`; returns the nodes in order. */
    async function walk(search: string | null, first: number) {
      const pages: UserNode[][] = [];
      const totals = new Set<number>();
      let after: string | null = null;
      for (let guard = 0; guard < 1000; guard += 1) {
        const connection: UntypedData = await list({ first, after, search });
        const nodes: UserNode[] = connection.edges.map((edge: { node: UserNode }) => edge.node);
        expect(connection.nodes.map((node: { id: string }) => node.id)).toEqual(nodes.map((node) => node.id));
        expect(connection.pageInfo.hasPreviousPage).toBe(after !== null);
        expect(connection.pageInfo.startCursor).toBe(connection.edges[0]?.cursor ?? null);
        expect(connection.pageInfo.endCursor).toBe(connection.edges.at(-1)?.cursor ?? null);
        totals.add(connection.totalCount);
        pages.push(nodes);
        if (!connection.pageInfo.hasNextPage) return { pages, totals };
        after = connection.pageInfo.endCursor;
      }
      throw new Error("pagination did not end");
    }

    /** Newest first: created_at descending, then id descending. */
    const newestFirst = (nodes: UserNode[]) =>
      [...nodes].sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1));

    it("lists users newest first in pages of 2 with no gap or repeat, and totalCount across pages", async () => {
      const prefix = tag();
      const made: TestUser[] = [];
      for (let index = 0; index < 5; index += 1) made.push(await createUser(server, { username: `${prefix}_${index}` }));
      // Three made in one millisecond: the id tie-break alone keeps them apart.
      await server.database.query("update users set created_at = date_trunc('milliseconds', now()) where id = any($1::uuid[])", [
        made.slice(1, 4).map((user) => user.id),
      ]);
      const { pages, totals } = await walk(prefix, 2);
      expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
      expect([...totals]).toEqual([5]);
      const seen = pages.flat();
      expect(seen.map((node) => node.id).sort()).toEqual(made.map((user) => user.id).sort());
      expect(seen.map((node) => node.id)).toEqual(newestFirst(seen).map((node) => node.id));
      // An admin sees every field of every user.
      const first = seen.find((node) => node.id === made[0]!.id)!;
      expect(first).toMatchObject({ username: made[0]!.username, email: made[0]!.email, role: "USER", active: true });
    });

    it("walks the whole list with no gap or repeat, and counts every user", async () => {
      await createUser(server);
      const { pages, totals } = await walk(null, 2);
      const seen = pages.flat();
      expect(totals.size).toBe(1);
      expect(seen).toHaveLength([...totals][0]!);
      expect(new Set(seen.map((node) => node.id)).size).toBe(seen.length);
      expect(seen.map((node) => node.id)).toEqual(newestFirst(seen).map((node) => node.id));
      expect(seen.map((node) => node.id)).toContain(admin.id);
      // The default page is 20.
      expect((await list({})).edges).toHaveLength(Math.min(20, seen.length));
    });

    it("searches username and email, case-insensitively, with % and _ taken literally", async () => {
      const prefix = tag();
      const make = (username: string, email: string) => createUser(server, { username: `${prefix}${username}`, email: `${prefix}${email}` });
      await make("Alpha", "-one@example.com");
      await make("_x", "-two@example.com");
      await make("yx", "-three@example.com");
      await make("p1", "50%off@example.com");
      await make("p2", "50xoff@example.com");
      const name = (username: string) => `${prefix}${username}`;

      expect(await usernames(prefix)).toEqual([name("Alpha"), name("_x"), name("p1"), name("p2"), name("yx")].sort());
      expect(await usernames(`${prefix.toUpperCase()}aLpHa`)).toEqual([name("Alpha")]);
      expect(await usernames(`${prefix}-ONE@Example.COM`)).toEqual([name("Alpha")]);
      expect(await usernames(`${prefix}-t`)).toEqual([name("_x"), name("yx")].sort());
      expect(await usernames(`${prefix}_x`)).toEqual([name("_x")]);
      expect(await usernames(`${prefix}50%off`)).toEqual([name("p1")]);
      expect(await usernames(`${prefix}50%`)).toEqual([name("p1")]);
      // As wildcards, these would match all five.
      expect(await usernames(`${prefix}%`)).toEqual([]);
      expect(await usernames(`${prefix}_`)).toEqual([name("_x")]);
      expect(await usernames(`${prefix}\\`)).toEqual([]);
      expect(await usernames(`${prefix} no such user`)).toEqual([]);
      const found = await list({ first: 100, search: "%" });
      for (const { node } of found.edges as Array<{ node: UserNode }>) expect(`${node.username} ${node.email}`).toContain("%");
      expect(found.totalCount).toBe(found.edges.length);
      // Empty means no filter.
      expect((await list({ first: 1, search: "" })).totalCount).toBe((await list({ first: 1 })).totalCount);
    });

    it("refuses a search over 200 characters or with control characters on search, and accepts 200", async () => {
      for (const search of ["s".repeat(201), "a\u0000b", "a\nb", "\u007f", "\u0085"]) {
        expectError(await server.graphql(USERS, { search }, { token: admin.token }), "BAD_USER_INPUT", "search");
      }
      expect((await list({ search: "s".repeat(200) })).totalCount).toBe(0);
    });

    it("refuses a cursor it did not issue for users, on after, and first out of 1 to 100", async () => {
      await createDataset(server, admin);
      const datasets = await server.graphql(`{ datasets(first: 1) { pageInfo { endCursor } } }`, {}, { token: admin.token });
      const datasetCursor = expectOk(datasets).datasets.pageInfo.endCursor;
      const userCursor = (await list({ first: 1 })).pageInfo.endCursor;
      const forged = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString("base64url");
      for (const after of [
        datasetCursor,
        "not a cursor",
        forged(["users", "yesterday", randomUUID()]),
        forged(["users", "2026-01-01T00:00:00.000Z", "not-an-id"]),
        forged(["CREATED_AT_DESC", "2026-01-01T00:00:00.000Z", randomUUID()]),
      ]) {
        expectError(await server.graphql(USERS, { after }, { token: admin.token }), "BAD_USER_INPUT", "after");
      }
      expect((await list({ after: forged(["users", "2026-01-01T00:00:00.000Z", randomUUID()]) })).edges).toBeInstanceOf(Array);
      // And a users cursor is no dataset cursor.
      const wrongList = await server.graphql(
        `query($after: String) { datasets(after: $after) { totalCount } }`,
        { after: userCursor },
        { token: admin.token },
      );
      expectError(wrongList, "BAD_USER_INPUT", "after");
      for (const first of [0, -1, 101]) {
        expectError(await server.graphql(USERS, { first }, { token: admin.token }), "BAD_USER_INPUT", "first");
      }
    });
  });

  describe("setUserRole", () => {
    it("promotes: the user's old token is refused on the next request; a new sign-in is an admin", async () => {
      const user = await createUser(server);
      const session = await s.login(user);
      const promoted = expectOk(await s.setRole(admin, user.id, "ADMIN")).setUserRole as UserNode;
      expect(promoted).toMatchObject({ id: user.id, username: user.username, email: user.email, role: "ADMIN", active: true });
      await s.expectRevoked(user.token);
      await s.expectRevoked(session.accessToken);
      // A role change ends no session: a refresh carries the new role.
      expect(expectOk(await server.graphql(REFRESH, { token: session.refreshToken })).refreshSession.user.role).toBe("ADMIN");
      const again = await s.login(user);
      expect(again.user).toEqual({ id: user.id, role: "ADMIN", active: true });
      expect((await list({ first: 1 }, again.as)).totalCount).toBeGreaterThan(0);
    });

    it("demotes: the admin's old token is refused on the next request; a new sign-in is a user", async () => {
      const other = await createAdmin(server);
      const demoted = expectOk(await s.setRole(admin, other.id, "USER")).setUserRole as UserNode;
      expect(demoted).toMatchObject({ id: other.id, role: "USER", active: true });
      await s.expectRevoked(other.token);
      const again = await s.login(other);
      expect(again.user).toEqual({ id: other.id, role: "USER", active: true });
      expectError(await server.graphql(USERS, {}, { token: again.accessToken }), "FORBIDDEN");
      // The list shows the new role.
      expect((await list({ search: other.username })).edges.map((edge: { node: { role: string } }) => edge.node.role)).toEqual(["USER"]);
    });

    it("changes nothing, and revokes nothing, when the user already has the role", async () => {
      const user = await createUser(server);
      const before = (await list({ search: user.username })).edges[0].node as UserNode;
      const same = expectOk(await s.setRole(admin, user.id, "USER")).setUserRole as UserNode;
      expect(same).toEqual(before);
      expect(expectOk(await s.me(user.token)).me.role).toBe("USER");
    });
  });

  describe("setUserActive", () => {
    it("deactivates: access token refused on the next request, refresh token and sign-in refused", async () => {
      const user = await createUser(server);
      const session = await s.login(user);
      const deactivated = expectOk(await s.setActive(admin, user.id, false)).setUserActive as UserNode;
      expect(deactivated).toMatchObject({ id: user.id, role: "USER", active: false });
      await s.expectRevoked(session.accessToken);
      await s.expectRevoked(user.token);
      expectError(await server.graphql(REFRESH, { token: session.refreshToken }), "UNAUTHENTICATED");
      expectError(await server.graphql(LOGIN, { input: { email: user.email, password: user.password } }), "UNAUTHENTICATED");
      // Every session ended, with the reason recorded.
      const sessions = await server.database.query<{ reason: string | null }>("select revoked_reason as reason from sessions where user_id = $1", [
        user.id,
      ]);
      expect(sessions.length).toBeGreaterThanOrEqual(2);
      expect(new Set(sessions.map((row) => row.reason))).toEqual(new Set(["deactivated"]));
      // Admins see it in the list; setting it again changes nothing.
      expect((await list({ search: user.username })).edges.map((edge: { node: { active: boolean } }) => edge.node.active)).toEqual([false]);
      const again = expectOk(await s.setActive(admin, user.id, false)).setUserActive as UserNode;
      expect(again).toEqual(deactivated);
    });

    it("reactivates: the user signs in again, but old sessions stay ended", async () => {
      const user = await createUser(server);
      const session = await s.login(user);
      expectOk(await s.setActive(admin, user.id, false));
      const reactivated = expectOk(await s.setActive(admin, user.id, true)).setUserActive as UserNode;
      expect(reactivated).toMatchObject({ id: user.id, active: true });
      const fresh = await s.login(user);
      expect(expectOk(await s.me(fresh.accessToken)).me).toEqual({ id: user.id, role: "USER", active: true });
      await s.expectRevoked(session.accessToken);
      expectError(await server.graphql(REFRESH, { token: session.refreshToken }), "UNAUTHENTICATED");
    });

    it("deactivates an admin too (while another active admin remains)", async () => {
      const other = await createAdmin(server);
      expect(expectOk(await s.setActive(admin, other.id, false)).setUserActive).toMatchObject({ role: "ADMIN", active: false });
      await s.expectRevoked(other.token);
      expectError(await server.graphql(LOGIN, { input: { email: other.email, password: other.password } }), "UNAUTHENTICATED");
    });
  });

  describe("an admin's own account", () => {
    it("cannot be demoted or deactivated by themself (FORBIDDEN), and nothing changes", async () => {
      const self = await createAdmin(server);
      expectError(await s.setRole(self, self.id, "USER"), "FORBIDDEN");
      expectError(await s.setActive(self, self.id, false), "FORBIDDEN");
      // Same token still works: nothing was revoked, role and state are as they were.
      expect(expectOk(await s.me(self.token)).me).toEqual({ id: self.id, role: "ADMIN", active: true });
      expect((await list({ search: self.username })).edges[0].node).toMatchObject({ role: "ADMIN", active: true });
    });

    it("may set what they already are: a no-op that returns them", async () => {
      const self = await createAdmin(server);
      expect(expectOk(await s.setRole(self, self.id, "ADMIN")).setUserRole).toMatchObject({ id: self.id, role: "ADMIN" });
      expect(expectOk(await s.setActive(self, self.id, true)).setUserActive).toMatchObject({ id: self.id, active: true });
      expect(expectOk(await s.me(self.token)).me).toEqual({ id: self.id, role: "ADMIN", active: true });
    });
  });

  it("is NOT_FOUND for an unknown userId and BAD_USER_INPUT on userId for a malformed one", async () => {
    const unknown = randomUUID();
    expectError(await s.setRole(admin, unknown, "ADMIN"), "NOT_FOUND");
    expectError(await s.setActive(admin, unknown, false), "NOT_FOUND");
    for (const malformed of ["nope", "", `${unknown}x`]) {
      expectError(await s.setRole(admin, malformed, "ADMIN"), "BAD_USER_INPUT", "userId");
      expectError(await s.setActive(admin, malformed, true), "BAD_USER_INPUT", "userId");
    }
  });
});

describe("the last active admin", () => {
  let server: TestServer;
  let a: TestUser;
  let b: TestUser;
  const s = on(() => server);

  // A fresh database each time, with exactly two admins.
  beforeEach(async () => {
    server = await startServer();
    [a, b] = [await createAdmin(server), await createAdmin(server)];
    expect(await s.activeAdminCount()).toBe(2);
  });
  afterEach(() => server.close());

  it("with two admins, one demotes the other; then nobody can demote or deactivate the one left", async () => {
    expectOk(await s.setRole(a, b.id, "USER"));
    expect(await s.activeAdminCount()).toBe(1);
    await s.expectRevoked(b.token);
    const formerAdmin = (await s.login(b)).as;
    const user = await createUser(server);
    for (const actor of [formerAdmin, user]) {
      expectError(await s.setRole(actor, a.id, "USER"), "FORBIDDEN");
      expectError(await s.setActive(actor, a.id, false), "FORBIDDEN");
    }
    expectError(await s.setRole(a, a.id, "USER"), "FORBIDDEN");
    expectError(await s.setActive(a, a.id, false), "FORBIDDEN");
    expect(expectOk(await s.me(a.token)).me).toEqual({ id: a.id, role: "ADMIN", active: true });
    expect(await s.activeAdminCount()).toBe(1);
  });

  it("lets exactly one of two admins demoting or deactivating each other at once succeed", async () => {
    for (let round = 0; round < 6; round += 1) {
      const demote = round % 2 === 0;
      const change = (actor: TestUser, target: TestUser) => (demote ? s.setRole(actor, target.id, "USER") : s.setActive(actor, target.id, false));
      const [first, second] = await Promise.all([change(a, b), change(b, a)]);
      const results = [first, second];
      expect(
        results.filter((response) => !response.errors),
        `round ${round}`,
      ).toHaveLength(1);
      const loser = results.find((response) => response.errors)!;
      // Refused as the last admin, or (had the winner committed before its check) with a revoked token.
      // UNAUTHENTICATED: refused at sign-in (already demoted); FORBIDDEN: demoted while it
      // waited for the admin rows; CONFLICT: would have left no admin.
      expect(["CONFLICT", "FORBIDDEN", "UNAUTHENTICATED"]).toContain(errorCode(loser));
      expect(await s.activeAdminCount()).toBe(1);

      // The winner restores the loser, who signs in again, for the next round.
      const [winner, lost] = first.errors ? [b, a] : [a, b];
      expect(expectOk(await s.me(winner.token)).me).toEqual({ id: winner.id, role: "ADMIN", active: true });
      expectOk(demote ? await s.setRole(winner, lost.id, "ADMIN") : await s.setActive(winner, lost.id, true));
      const back = (await s.login(lost)).as;
      if (lost === a) a = back;
      else b = back;
      expect(await s.activeAdminCount()).toBe(2);
    }
  });

  /** Sessions on the server blocked, directly or behind another waiter, by backend `pid`. */
  async function blockedBehind(pid: number): Promise<number> {
    const [row] = await server.database.query<{ count: number }>(
      `with recursive blocked(pid) as (
         select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))
         union
         select activity.pid from pg_stat_activity activity join blocked on blocked.pid = any(pg_blocking_pids(activity.pid))
       )
       select count(*)::int as count from blocked`,
      [pid],
    );
    return row!.count;
  }

  async function waitFor(condition: () => Promise<boolean> | boolean) {
    for (let tries = 0; tries < 500; tries += 1) {
      if (await condition()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error("condition never held");
  }

  // PGlite runs one transaction at a time, so only PostgreSQL can hold both requests at the lock.
  it.runIf(ENGINE === "postgres")(
    "refuses the second of two crossed demotions with FORBIDDEN when both passed their sign-in check first (its admin is no admin by then)",
    async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let holder = 0;
      const holding = server.database.transaction(async (tx) => {
        await tx.query("select id from users where role = 'ADMIN' and active for update");
        holder = (await tx.query<{ pid: number }>("select pg_backend_pid() as pid"))[0]!.pid;
        await gate;
      });
      await waitFor(() => holder !== 0);
      const racing = Promise.all([s.setRole(a, b.id, "USER"), s.setRole(b, a.id, "USER")]);
      // Both requests are past authentication and wait for the admin rows.
      await waitFor(async () => (await blockedBehind(holder)) >= 2);
      release();
      await holding;
      const results = await racing;
      expect(results.filter((response) => !response.errors)).toHaveLength(1);
      const loser = results.find((response) => response.errors)!;
      expect(errorCode(loser)).toBe("FORBIDDEN");
      expect(loser.errors![0]!.message).toBe("Only an active admin can change accounts");
      expect(await s.activeAdminCount()).toBe(1);
    },
  );
});
