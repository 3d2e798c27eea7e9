import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditLog } from "../src/audit/events.js";
import { TRUST_WINDOW_MS } from "../src/auth/viewer-changes.js";
import { changeAccount } from "../src/users/store.js";
import { createAdmin, createUser, type TestUser } from "./support/factories.js";
import { ENGINE } from "./support/database.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";

/**
 * The viewer check is served from memory once a session has been seen. A revocation made
 * through the API (on any instance) is refused on the very next request, on every
 * instance. A change made with plain SQL, as the create-admin script or an operator would
 * make it, reaches the server through the database's announcement (migrations/005): as
 * soon as PostgreSQL delivers it, milliseconds at most.
 */
describe("the viewer cache", () => {
  let server: TestServer;
  let second: TestServer;

  beforeAll(async () => {
    server = await startServer();
    // Another instance on the same database, with its own cache.
    second = await startServer({ JWT_SECRET: server.secret }, undefined, server);
  });
  afterAll(async () => {
    await second.close();
    await server.close();
  });

  const ME = `{ me { id username role } }`;

  /** Signs in and makes sure `server`'s cache holds the session: `me` then costs no statement. */
  async function warm(on: TestServer, user: TestUser): Promise<void> {
    const first = await on.graphql(ME, {}, { token: user.token });
    expect(first.errors).toBeUndefined();
    const again = await on.graphql(ME, {}, { token: user.token });
    expect(again.errors).toBeUndefined();
    expect(again.statements).toBe(0);
  }

  /** The response once `server` refuses `token`, asking again while the announcement travels (≤ 1 s). */
  async function refusedSoon(on: TestServer, token: string) {
    const deadline = Date.now() + 1000;
    for (;;) {
      const me = await on.graphql(ME, {}, { token });
      if (me.status === 401 || Date.now() > deadline) return me;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  function sessionOf(token: string): string {
    return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).sid as string;
  }

  it("reads a session's viewer from the database once, then from memory", async () => {
    const user = await createUser(server);
    const first = await server.graphql(ME, {}, { token: user.token });
    // Nothing puts a session in the cache but a read of it (register does not): the token's
    // first use reads the viewer, and `me` is that row (the loader is primed with it).
    expect(first.errors).toBeUndefined();
    expect(first.statements).toBe(1);
    await warm(server, user);
  });

  it("reads a session not yet seen once, however many of its requests arrive together", async () => {
    const user = await createUser(server);
    // A session of its own that no request has used yet.
    const login = await server.graphql(`mutation($i: LoginInput!) { login(input: $i) { accessToken } }`, {
      i: { email: user.email, password: user.password },
    });
    const token = login.data.login.accessToken as string;
    const burst = await Promise.all(Array.from({ length: 20 }, () => server.graphql(ME, {}, { token })));
    for (const response of burst) expect(response.data.me.id).toBe(user.id);
    expect(burst.reduce((sum, response) => sum + response.statements, 0)).toBe(1);
  });

  it("sees a username changed by plain SQL as soon as the announcement arrives", async () => {
    const user = await createUser(server);
    await warm(server, user);
    await server.database.query(`update users set username = $2 where id = $1`, [user.id, `${user.username}_x`]);
    // On PostgreSQL the announcement travels on its own connection: ask again while it does (≤ 1 s).
    const deadline = Date.now() + 1000;
    let username = "";
    for (;;) {
      username = (await server.graphql(ME, {}, { token: user.token })).data.me.username;
      if (username === `${user.username}_x` || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(username).toBe(`${user.username}_x`);
  });

  const REVOCATIONS: Array<[string, string]> = [
    ["the session ended", `update sessions set revoked_at = now() where user_id = $1`],
    ["the token version moved on", `update users set token_version = token_version + 1 where id = $1`],
    ["the user deactivated", `update users set active = false where id = $1`],
    ["the user deleted", `delete from users where id = $1`],
  ];
  for (const [label, sql] of REVOCATIONS) {
    it(`refuses the token once ${label} by plain SQL, on every instance`, async () => {
      const user = await createUser(server);
      await warm(server, user);
      await warm(second, user);
      await server.database.query(sql, [user.id]);
      for (const on of [server, second]) {
        const me = await refusedSoon(on, user.token);
        expect(me.status).toBe(401);
        expect(errorCode(me)).toBe("UNAUTHENTICATED");
      }
    });
  }

  it("a role change made with plain SQL reaches the other instance", async () => {
    const user = await createUser(server);
    await warm(second, user);
    await server.database.query(`update users set role = 'ADMIN', token_version = token_version + 1 where id = $1`, [user.id]);
    expect((await refusedSoon(second, user.token)).status).toBe(401);
  });

  const REVOKING_MUTATIONS: Array<[string, (user: TestUser, refreshToken: string) => Promise<unknown>]> = [
    [
      "logout",
      (user, refreshToken) => server.graphql(`mutation($t: String!) { logout(refreshToken: $t) }`, { t: refreshToken }, { token: user.token }),
    ],
    ["logoutAll", (user) => server.graphql(`mutation { logoutAll }`, {}, { token: user.token })],
    [
      "changePassword",
      (user) =>
        server.graphql(
          `mutation($c: String!) { changePassword(currentPassword: $c, newPassword: "an entirely new secret") { accessToken } }`,
          { c: user.password },
          { token: user.token },
        ),
    ],
    [
      "setUserActive(false)",
      async (user) => {
        const admin = await createAdmin(server);
        return server.graphql(`mutation($id: ID!) { setUserActive(userId: $id, active: false) { id } }`, { id: user.id }, { token: admin.token });
      },
    ],
    [
      "setUserRole(ADMIN)",
      async (user) => {
        const admin = await createAdmin(server);
        return server.graphql(`mutation($id: ID!) { setUserRole(userId: $id, role: ADMIN) { id } }`, { id: user.id }, { token: admin.token });
      },
    ],
  ];
  for (const [label, revoke] of REVOKING_MUTATIONS) {
    it(`after ${label} through one instance, both refuse the old token on the very next request`, async () => {
      const user = await createUser(server);
      const login = await server.graphql(`mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }`, {
        i: { email: user.email, password: user.password },
      });
      const session = { ...user, token: login.data.login.accessToken as string };
      await warm(server, session);
      await warm(second, session);
      const response = (await revoke(session, login.data.login.refreshToken)) as { errors?: unknown };
      expect(response.errors).toBeUndefined();
      for (const on of [second, server]) {
        const me = await on.graphql(ME, {}, { token: session.token });
        expect(me.status).toBe(401);
      }
    });
  }

  it("ending one session leaves the user's other sessions served from memory", async () => {
    const user = await createUser(server);
    const login = await server.graphql(`mutation($i: LoginInput!) { login(input: $i) { accessToken } }`, {
      i: { email: user.email, password: user.password },
    });
    const other = { ...user, token: login.data.login.accessToken as string };
    await warm(server, user);
    await warm(server, other);
    await server.database.query(`update sessions set revoked_at = now() where id = $1`, [sessionOf(other.token)]);
    expect((await server.graphql(ME, {}, { token: other.token })).status).toBe(401);
    const still = await server.graphql(ME, {}, { token: user.token });
    expect(still.errors).toBeUndefined();
    expect(still.statements).toBe(0);
  });

  it("a change that rolls back changes nothing", async () => {
    const user = await createUser(server);
    await warm(server, user);
    await expect(
      server.database.transaction(async (tx) => {
        await tx.query(`update users set active = false where id = $1`, [user.id]);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    const me = await server.graphql(ME, {}, { token: user.token });
    expect(me.errors).toBeUndefined();
    expect(me.data.me.id).toBe(user.id);
  });

  // PGlite is one process whose listeners all hear a change before it commits: nothing to wait for.
  it.runIf(ENGINE === "postgres")("a revocation waits for an instance that does not confirm it, for the trust window and no longer", async () => {
    // An instance that probes but never answers a sync (cut off, or stopped without a word).
    await server.database.query(`select pg_notify('viewer_changes', 'probe:silent-peer:1')`);
    try {
      const user = await createUser(server);
      const started = performance.now();
      const logoutAll = await server.graphql(`mutation { logoutAll }`, {}, { token: user.token });
      const took = performance.now() - started;
      expect(logoutAll.data).toEqual({ logoutAll: true });
      // By then the silent instance has either heard it or stopped answering from memory.
      expect(took).toBeGreaterThanOrEqual(TRUST_WINDOW_MS - 50);
      expect(took).toBeLessThan(TRUST_WINDOW_MS + 2000);
    } finally {
      await server.database.query(`select pg_notify('viewer_changes', 'bye:silent-peer')`);
    }
    // Gone: revocations no longer wait for it.
    const user = await createUser(server);
    const started = performance.now();
    await server.graphql(`mutation { logoutAll }`, {}, { token: user.token });
    expect(performance.now() - started).toBeLessThan(TRUST_WINDOW_MS - 500);
  });

  it("an admin demoted meanwhile changes no account, whatever role their request was checked with", async () => {
    const demoted = await createAdmin(server);
    const target = await createUser(server);
    await server.database.query(`update users set role = 'USER' where id = $1`, [demoted.id]);
    // As a request would that still carried the old role: straight to the store.
    expect(await changeAccount(server.database, createAuditLog(), target.id, { role: "ADMIN" }, demoted.id)).toEqual({ kind: "actorNotAdmin" });
    expect(await server.database.query(`select role from users where id = $1`, [target.id])).toEqual([{ role: "USER" }]);
  });

  it("with VIEWER_CACHE_SIZE=0, every request reads its viewer", async () => {
    const uncached = await startServer({ VIEWER_CACHE_SIZE: "0", JWT_SECRET: server.secret }, undefined, server);
    try {
      const user = await createUser(uncached);
      for (let round = 0; round < 3; round += 1) {
        expect((await uncached.graphql(ME, {}, { token: user.token })).statements).toBe(1);
      }
    } finally {
      await uncached.close();
    }
  });
});
