import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AdminDatasetsDocument,
  ChangePasswordDocument,
  LoginDocument,
  LogoutAllDocument,
  LogoutDocument,
  MeDocument,
  RefreshSessionDocument,
  type SessionFieldsFragment,
} from "../client/generated/graphql.js";
import { createAdmin, createUser, type TestUser } from "./support/factories.js";
import { errorCode, type GraphQLResponse, startServer, type TestServer } from "./support/server.js";

/** Through the client's own session operations (client/operations/auth.graphql). */

type Session = Pick<SessionFieldsFragment, "accessToken" | "refreshToken">;

/** The data of a request that must succeed. */
function ok<Data>(response: GraphQLResponse<Data>): Data {
  expect(response.errors).toBeUndefined();
  return response.data!;
}

/** Sessions: rotation, reuse detection, logout, logoutAll, password change, revocation on the next request. */
function sessionTests(reuseInterval: string) {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ REFRESH_REUSE_INTERVAL: reuseInterval });
  });
  afterAll(() => server.close());

  async function login(user: TestUser, password = user.password): Promise<SessionFieldsFragment> {
    return ok(await server.graphql(LoginDocument, { input: { email: user.email, password } })).login;
  }
  const refresh = (refreshToken: string) => server.graphql(RefreshSessionDocument, { refreshToken });
  const me = (token: string) => server.graphql(MeDocument, {}, { token });
  /** The id of the user `token` signs in (the request must succeed). */
  const meId = async (token: string) => ok(await me(token)).me.id;
  /** The access token is refused on its next request, as a whole, with 401. */
  async function expectRevoked(accessToken: string) {
    const response = await me(accessToken);
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe("UNAUTHENTICATED");
  }
  async function expectRefused(refreshToken: string) {
    const response = await refresh(refreshToken);
    expect(errorCode(response)).toBe("UNAUTHENTICATED");
    expect(response.data).toBeNull();
  }
  return { server: () => server, login, refresh, meId, expectRevoked, expectRefused };
}

describe("sessions", () => {
  const s = sessionTests("10");

  it("issues a 256-bit refresh token with every sign-in", async () => {
    const user = await createUser(s.server());
    const session = await s.login(user);
    expect(session.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session).toMatchObject({ tokenType: "Bearer", expiresIn: 900 });
  });

  it("rotates: each refresh gives a new pair, and the new access token works", async () => {
    const user = await createUser(s.server());
    const first = await s.login(user);
    const second = ok(await s.refresh(first.refreshToken)).refreshSession;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.user).toEqual(first.user);
    expect(second.user).toMatchObject({ id: user.id, email: user.email, role: "USER" });
    expect(await s.meId(second.accessToken)).toBe(user.id);
    const third = ok(await s.refresh(second.refreshToken)).refreshSession;
    expect(third.refreshToken).not.toBe(second.refreshToken);
  });

  it("gives racing refreshes of one token (two tabs) the same successor, within the reuse interval", async () => {
    const user = await createUser(s.server());
    const session = await s.login(user);
    const racers = await Promise.all([s.refresh(session.refreshToken), s.refresh(session.refreshToken), s.refresh(session.refreshToken)]);
    for (const racer of racers) expect(racer.errors).toBeUndefined();
    const successors = new Set(racers.map((racer) => ok(racer).refreshSession.refreshToken));
    expect(successors.size).toBe(1);
    // The successor is live: it rotates once more.
    const [successor] = successors;
    expect((await s.refresh(successor!)).errors).toBeUndefined();
  });

  it("refuses a token that is not one of its own, or whose lifetime is over", async () => {
    const user = await createUser(s.server());
    const session = await s.login(user);
    await s.expectRefused("not-a-token");
    await s.expectRefused("A".repeat(43));
    await s
      .server()
      .database.query(
        "update refresh_tokens set expires_at = now() - interval '1 second' where session_id in (select id from sessions where user_id = $1)",
        [user.id],
      );
    await s.expectRefused(session.refreshToken);
  });

  it("logout ends one session: its refresh token and its access token; other sessions go on", async () => {
    const user = await createUser(s.server());
    const [ending, staying] = [await s.login(user), await s.login(user)];
    const logout = (refreshToken: string, token: string) => s.server().graphql(LogoutDocument, { refreshToken }, { token });
    expect(ok(await logout(ending.refreshToken, ending.accessToken)).logout).toBe(true);
    await s.expectRevoked(ending.accessToken);
    await s.expectRefused(ending.refreshToken);
    expect(await s.meId(staying.accessToken)).toBe(user.id);
    expect((await s.refresh(staying.refreshToken)).errors).toBeUndefined();
    // Again, or with someone else's token: nothing to end.
    const other = await createUser(s.server());
    const othersSession = await s.login(other);
    expect(ok(await logout(ending.refreshToken, staying.accessToken)).logout).toBe(false);
    expect(ok(await logout(othersSession.refreshToken, staying.accessToken)).logout).toBe(false);
    expect(await s.meId(othersSession.accessToken)).toBe(other.id);
  });

  it("logoutAll ends every session and every access token issued so far", async () => {
    const user = await createUser(s.server());
    const sessions: Session[] = [await s.login(user), await s.login(user), { accessToken: user.token, refreshToken: "" }];
    expect(ok(await s.server().graphql(LogoutAllDocument, {}, { token: sessions[0]!.accessToken })).logoutAll).toBe(true);
    for (const session of sessions) {
      await s.expectRevoked(session.accessToken);
      if (session.refreshToken) await s.expectRefused(session.refreshToken);
    }
    // Signing in again works.
    expect(await s.meId((await s.login(user)).accessToken)).toBe(user.id);
  });

  describe("changePassword", () => {
    const change = (user: TestUser, currentPassword: string, newPassword: string) =>
      s.server().graphql(ChangePasswordDocument, { currentPassword, newPassword }, { token: user.token });

    it("needs the current password; a wrong one changes nothing", async () => {
      const user = await createUser(s.server());
      const response = await change(user, "not my password", "a brand new passphrase");
      expect(errorCode(response)).toBe("BAD_USER_INPUT");
      expect(response.errors![0]!.extensions.field).toBe("currentPassword");
      expect(await s.meId(user.token)).toBe(user.id);
      await s.login(user);
    });

    it("applies the password rules to the new password", async () => {
      const user = await createUser(s.server());
      for (const next of ["short", "password123", user.username]) {
        const response = await change(user, user.password, next);
        expect(errorCode(response)).toBe("BAD_USER_INPUT");
        expect(response.errors![0]!.extensions.field).toBe("newPassword");
      }
      await s.login(user);
    });

    it("sets the password, ends every other session and token, and returns a new session", async () => {
      const user = await createUser(s.server());
      const other = await s.login(user);
      const next = "a brand new passphrase";
      const fresh = ok(await change(user, user.password, next)).changePassword;
      expect(await s.meId(fresh.accessToken)).toBe(user.id);
      expect((await s.refresh(fresh.refreshToken)).errors).toBeUndefined();
      await s.expectRevoked(user.token);
      await s.expectRevoked(other.accessToken);
      await s.expectRefused(other.refreshToken);
      expect(errorCode(await s.server().graphql(LoginDocument, { input: { email: user.email, password: user.password } }))).toBe("UNAUTHENTICATED");
      await s.login(user, next);
    });
  });

  it("refuses a user made inactive in the database on the very next request, and at sign-in", async () => {
    const user = await createUser(s.server());
    const session = await s.login(user);
    await s.server().database.query("update users set active = false where id = $1", [user.id]);
    await s.expectRevoked(session.accessToken);
    await s.expectRefused(session.refreshToken);
    expect(errorCode(await s.server().graphql(LoginDocument, { input: { email: user.email, password: user.password } }))).toBe("UNAUTHENTICATED");
  });

  it("rehashes a password made at another cost at the next sign-in, and keeps the session", async () => {
    const user = await createUser(s.server());
    const costOf = async () =>
      (await s.server().database.query<{ hash: string }>("select password_hash as hash from users where id = $1", [user.id]))[0]!.hash.split("$")[2];
    expect(await costOf()).toBe("04");
    const stronger = await startServer({ BCRYPT_COST: "5" }, undefined, s.server());
    try {
      ok(await stronger.graphql(LoginDocument, { input: { email: user.email, password: user.password } }));
      expect(await costOf()).toBe("05");
      expect(await s.meId(user.token)).toBe(user.id);
      await s.login(user);
    } finally {
      await stronger.close();
    }
  });

  it("takes the role from the database, not from the token", async () => {
    const admin = await createAdmin(s.server());
    const adminList = () => s.server().graphql(AdminDatasetsDocument, {}, { token: admin.token });
    ok(await adminList());
    await s.server().database.query("update users set role = 'USER' where id = $1", [admin.id]);
    // A change made in SQL behind the API's back reaches the viewer cache by its trigger's
    // notification, a moment later (the API's own role changes wait for it before answering:
    // tests/admin-users.test.ts); the token still says ADMIN throughout.
    await expect.poll(async () => errorCode(await adminList()), { timeout: 5_000, interval: 50 }).toBe("FORBIDDEN");
  });
});

describe("refresh token reuse after the reuse interval", () => {
  const s = sessionTests("0");

  it("revokes the whole session: every refresh token and access token of it", async () => {
    const user = await createUser(s.server());
    const elsewhere = await s.login(user);
    const stolen = await s.login(user);
    const rotated = ok(await s.refresh(stolen.refreshToken)).refreshSession;
    // The old token comes back: theft. The session ends for thief and owner alike.
    await s.expectRefused(stolen.refreshToken);
    await s.expectRefused(rotated.refreshToken);
    await s.expectRevoked(rotated.accessToken);
    await s.expectRevoked(stolen.accessToken);
    // Another session of the same user is untouched.
    expect(await s.meId(elsewhere.accessToken)).toBe(user.id);
  });
});
