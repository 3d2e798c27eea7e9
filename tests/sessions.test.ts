import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createUser, type TestUser } from "./support/factories.js";
import { errorCode, startServer, type TestServer } from "./support/server.js";

const PAYLOAD = "accessToken refreshToken tokenType expiresIn user { id email role }";
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { ${PAYLOAD} } }`;
const REFRESH = `mutation($token: String!) { refreshSession(refreshToken: $token) { ${PAYLOAD} } }`;
const LOGOUT = `mutation($token: String!) { logout(refreshToken: $token) }`;
const ME = `{ me { id role } }`;

interface Session {
  accessToken: string;
  refreshToken: string;
}

/** Sessions: rotation, reuse detection, logout, logoutAll, password change, revocation on the next request. */
function sessionTests(reuseInterval: string) {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ REFRESH_REUSE_INTERVAL: reuseInterval });
  });
  afterAll(() => server.close());

  async function login(user: TestUser, password = user.password): Promise<Session> {
    const response = await server.graphql(LOGIN, { input: { email: user.email, password } });
    expect(response.errors).toBeUndefined();
    return response.data.login;
  }
  const refresh = (token: string) => server.graphql(REFRESH, { token });
  const me = (token: string) => server.graphql(ME, {}, { token });
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
  return { server: () => server, login, refresh, me, expectRevoked, expectRefused };
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
    const second = (await s.refresh(first.refreshToken)).data.refreshSession;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.user).toEqual({ id: user.id, email: user.email, role: "USER" });
    expect((await s.me(second.accessToken)).data.me.id).toBe(user.id);
    const third = (await s.refresh(second.refreshToken)).data.refreshSession;
    expect(third.refreshToken).not.toBe(second.refreshToken);
  });

  it("gives racing refreshes of one token (two tabs) the same successor, within the reuse interval", async () => {
    const user = await createUser(s.server());
    const session = await s.login(user);
    const racers = await Promise.all([s.refresh(session.refreshToken), s.refresh(session.refreshToken), s.refresh(session.refreshToken)]);
    for (const racer of racers) expect(racer.errors).toBeUndefined();
    const successors = new Set(racers.map((racer) => racer.data.refreshSession.refreshToken));
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
    const response = await s.server().graphql(LOGOUT, { token: ending.refreshToken }, { token: ending.accessToken });
    expect(response.data.logout).toBe(true);
    await s.expectRevoked(ending.accessToken);
    await s.expectRefused(ending.refreshToken);
    expect((await s.me(staying.accessToken)).data.me.id).toBe(user.id);
    expect((await s.refresh(staying.refreshToken)).errors).toBeUndefined();
    // Again, or with someone else's token: nothing to end.
    const other = await createUser(s.server());
    const othersSession = await s.login(other);
    expect((await s.server().graphql(LOGOUT, { token: ending.refreshToken }, { token: staying.accessToken })).data.logout).toBe(false);
    expect((await s.server().graphql(LOGOUT, { token: othersSession.refreshToken }, { token: staying.accessToken })).data.logout).toBe(false);
    expect((await s.me(othersSession.accessToken)).data.me.id).toBe(other.id);
  });

  it("logoutAll ends every session and every access token issued so far", async () => {
    const user = await createUser(s.server());
    const sessions = [await s.login(user), await s.login(user), { accessToken: user.token, refreshToken: "" }];
    const response = await s.server().graphql(`mutation { logoutAll }`, {}, { token: sessions[0]!.accessToken });
    expect(response.data.logoutAll).toBe(true);
    for (const session of sessions) {
      await s.expectRevoked(session.accessToken);
      if (session.refreshToken) await s.expectRefused(session.refreshToken);
    }
    // Signing in again works.
    expect((await s.me((await s.login(user)).accessToken)).data.me.id).toBe(user.id);
  });

  describe("changePassword", () => {
    const CHANGE = `mutation($current: String!, $next: String!) { changePassword(currentPassword: $current, newPassword: $next) { ${PAYLOAD} } }`;

    it("needs the current password; a wrong one changes nothing", async () => {
      const user = await createUser(s.server());
      const response = await s.server().graphql(CHANGE, { current: "not my password", next: "a brand new passphrase" }, { token: user.token });
      expect(errorCode(response)).toBe("BAD_USER_INPUT");
      expect(response.errors![0]!.extensions.field).toBe("currentPassword");
      expect((await s.me(user.token)).data.me.id).toBe(user.id);
      await s.login(user);
    });

    it("applies the password rules to the new password", async () => {
      const user = await createUser(s.server());
      for (const next of ["short", "password123", user.username]) {
        const response = await s.server().graphql(CHANGE, { current: user.password, next }, { token: user.token });
        expect(errorCode(response)).toBe("BAD_USER_INPUT");
        expect(response.errors![0]!.extensions.field).toBe("newPassword");
      }
      await s.login(user);
    });

    it("sets the password, ends every other session and token, and returns a new session", async () => {
      const user = await createUser(s.server());
      const other = await s.login(user);
      const next = "a brand new passphrase";
      const response = await s.server().graphql(CHANGE, { current: user.password, next }, { token: user.token });
      expect(response.errors).toBeUndefined();
      const fresh = response.data.changePassword;
      expect((await s.me(fresh.accessToken)).data.me.id).toBe(user.id);
      expect((await s.refresh(fresh.refreshToken)).errors).toBeUndefined();
      await s.expectRevoked(user.token);
      await s.expectRevoked(other.accessToken);
      await s.expectRefused(other.refreshToken);
      expect(errorCode(await s.server().graphql(LOGIN, { input: { email: user.email, password: user.password } }))).toBe("UNAUTHENTICATED");
      await s.login(user, next);
    });
  });

  it("refuses a user made inactive in the database on the very next request, and at sign-in", async () => {
    const user = await createUser(s.server());
    const session = await s.login(user);
    await s.server().database.query("update users set active = false where id = $1", [user.id]);
    await s.expectRevoked(session.accessToken);
    await s.expectRefused(session.refreshToken);
    expect(errorCode(await s.server().graphql(LOGIN, { input: { email: user.email, password: user.password } }))).toBe("UNAUTHENTICATED");
  });

  it("rehashes a password made at another cost at the next sign-in, and keeps the session", async () => {
    const user = await createUser(s.server());
    const costOf = async () =>
      (await s.server().database.query<{ hash: string }>("select password_hash as hash from users where id = $1", [user.id]))[0]!.hash.split("$")[2];
    expect(await costOf()).toBe("04");
    const stronger = await startServer({ BCRYPT_COST: "5" }, undefined, s.server());
    try {
      const response = await stronger.graphql(LOGIN, { input: { email: user.email, password: user.password } });
      expect(response.errors).toBeUndefined();
      expect(await costOf()).toBe("05");
      expect((await s.me(user.token)).data.me.id).toBe(user.id);
      await s.login(user);
    } finally {
      await stronger.close();
    }
  });

  it("takes the role from the database, not from the token", async () => {
    const admin = await createAdmin(s.server());
    const query = `{ adminDatasets { totalCount } }`;
    expect((await s.server().graphql(query, {}, { token: admin.token })).errors).toBeUndefined();
    await s.server().database.query("update users set role = 'USER' where id = $1", [admin.id]);
    expect(errorCode(await s.server().graphql(query, {}, { token: admin.token }))).toBe("FORBIDDEN");
  });
});

describe("refresh token reuse after the reuse interval", () => {
  const s = sessionTests("0");

  it("revokes the whole session: every refresh token and access token of it", async () => {
    const user = await createUser(s.server());
    const elsewhere = await s.login(user);
    const stolen = await s.login(user);
    const rotated = (await s.refresh(stolen.refreshToken)).data.refreshSession;
    // The old token comes back: theft. The session ends for thief and owner alike.
    await s.expectRefused(stolen.refreshToken);
    await s.expectRefused(rotated.refreshToken);
    await s.expectRevoked(rotated.accessToken);
    await s.expectRevoked(stolen.accessToken);
    // Another session of the same user is untouched.
    expect((await s.me(elsewhere.accessToken)).data.me.id).toBe(user.id);
  });
});
