import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, unique } from "./support/factories.js";
import { errorCode, type GraphQLResponse, startServer, type TestServer } from "./support/server.js";

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`;
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`;
const REFRESH = `mutation($token: String!) { refreshSession(refreshToken: $token) { refreshToken } }`;

function expectRateLimited(response: GraphQLResponse, window: number) {
  expect(errorCode(response)).toBe("RATE_LIMITED");
  const retryAfter = response.errors![0]!.extensions.retryAfter;
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(window);
  expect(response.status).toBe(429);
  expect(response.headers.get("retry-after")).toBe(String(retryAfter));
}

/**
 * Throttling counts in the database, shared by instances: sign-in failures per account
 * and address (the main limit), per address, and per account from everywhere (a far
 * higher hard cap).
 */
describe("throttling", () => {
  const limits = {
    LOGIN_MAX_FAILURES: "3",
    LOGIN_ADDRESS_MAX_FAILURES: "6",
    LOGIN_WINDOW: "60",
    LOGIN_ACCOUNT_MAX_FAILURES: "8",
    LOGIN_ACCOUNT_WINDOW: "120",
    REGISTER_MAX_PER_ADDRESS: "1000",
    REFRESH_MAX_PER_ADDRESS: "1000",
  };
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ ...limits, TRUST_PROXY: "true" });
  });
  afterAll(() => server.close());

  /** Each test its own client address (TRUST_PROXY is on), so counts do not mix. */
  let addresses = 0;
  const from = () => {
    addresses += 1;
    return { headers: { "x-forwarded-for": `203.0.113.${addresses}, 10.0.0.1` } };
  };

  it("refuses an account from the address that failed 3 times, even with the right password, and says when to retry", async () => {
    const user = await createUser(server);
    const address = from();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect(errorCode(await server.graphql(LOGIN, { input: { email: user.email, password: "wrong password" } }, address))).toBe("UNAUTHENTICATED");
    }
    expectRateLimited(await server.graphql(LOGIN, { input: { email: user.email, password: user.password } }, address), 60);
    // From an address that has not been failing, the owner still signs in.
    expect((await server.graphql(LOGIN, { input: { email: user.email, password: user.password } }, from())).errors).toBeUndefined();
  });

  it("refuses an account everywhere once failures from all addresses reach the hard cap", async () => {
    const user = await createUser(server);
    // 3 + 3 + 2 failures from three addresses: each under its own limit, 8 for the account.
    for (const [address, failures] of [
      [from(), 3],
      [from(), 3],
      [from(), 2],
    ] as const) {
      for (let attempt = 0; attempt < failures; attempt += 1) {
        expect(errorCode(await server.graphql(LOGIN, { input: { email: user.email, password: "wrong password" } }, address))).toBe("UNAUTHENTICATED");
      }
    }
    expectRateLimited(await server.graphql(LOGIN, { input: { email: user.email, password: user.password } }, from()), 120);
  });

  it("clears an account's failures when a sign-in succeeds", async () => {
    const user = await createUser(server);
    const address = from();
    const attempt = (password: string) => server.graphql(LOGIN, { input: { email: user.email, password } }, address);
    for (let round = 0; round < 2; round += 1) {
      expect(errorCode(await attempt("wrong password"))).toBe("UNAUTHENTICATED");
      expect(errorCode(await attempt("wrong password"))).toBe("UNAUTHENTICATED");
      expect((await attempt(user.password)).errors).toBeUndefined();
    }
  });

  it("refuses an address after 6 failures across accounts, but not other addresses", async () => {
    const address = from();
    for (let attempt = 0; attempt < 6; attempt += 1) {
      await server.graphql(LOGIN, { input: { email: `${unique("nobody")}@example.com`, password: "wrong password" } }, address);
    }
    const user = await createUser(server);
    expectRateLimited(await server.graphql(LOGIN, { input: { email: user.email, password: user.password } }, address), 60);
    expect((await server.graphql(LOGIN, { input: { email: user.email, password: user.password } }, from())).errors).toBeUndefined();
  });

  it("counts parallel guesses before checking them: 40 at once, at most 3 passwords are tried", async () => {
    const user = await createUser(server);
    const address = from();
    const attempts = Array.from({ length: 40 }, (_, index) =>
      server.graphql(LOGIN, { input: { email: user.email, password: index === 39 ? user.password : `wrong password ${index}` } }, address),
    );
    const codes = (await Promise.all(attempts)).map((response) => (response.errors ? errorCode(response) : "OK"));
    const tried = codes.filter((code) => code !== "RATE_LIMITED");
    expect(tried.length).toBeLessThanOrEqual(3);
    expect(codes.filter((code) => code === "RATE_LIMITED").length).toBeGreaterThanOrEqual(37);
  });

  it("throttles an account with the longest valid email like any other", async () => {
    const email = `${"a".repeat(64)}@${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}.com`;
    expect(email.length).toBeLessThanOrEqual(254);
    const address = from();
    const codes = [];
    for (let attempt = 0; attempt < 4; attempt += 1) {
      codes.push(errorCode(await server.graphql(LOGIN, { input: { email, password: "wrong password" } }, address)));
    }
    expect(codes).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]);
  });

  it("shares the counts between instances on one database", async () => {
    const second = await startServer({ ...limits, TRUST_PROXY: "true" }, undefined, server);
    try {
      const user = await createUser(server);
      const address = from();
      const input = { email: user.email, password: "wrong password" };
      await server.graphql(LOGIN, { input }, address);
      await second.graphql(LOGIN, { input }, address);
      await server.graphql(LOGIN, { input }, address);
      expectRateLimited(await second.graphql(LOGIN, { input: { ...input, password: user.password } }, address), 60);
    } finally {
      await second.close();
    }
  });
});

/** The case: a stranger's failed sign-ins do not lock the owner out (default limits). */
describe("no lock-out by strangers", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ TRUST_PROXY: "true", LOGIN_MAX_FAILURES: "5", LOGIN_ACCOUNT_MAX_FAILURES: "100" });
  });
  afterAll(() => server.close());

  const attacker = { headers: { "x-forwarded-for": "192.0.2.66" } };
  const owner = { headers: { "x-forwarded-for": "198.51.100.20" } };

  it("lets the owner sign in from their address after 5 wrong passwords from another", async () => {
    const victim = await createUser(server);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      expect(errorCode(await server.graphql(LOGIN, { input: { email: victim.email, password: "wrong password" } }, attacker))).toBe(
        "UNAUTHENTICATED",
      );
    }
    expectRateLimited(await server.graphql(LOGIN, { input: { email: victim.email, password: victim.password } }, attacker), 900);
    expect((await server.graphql(LOGIN, { input: { email: victim.email, password: victim.password } }, owner)).errors).toBeUndefined();
  });

  it("lets the owner change their password from their address after 5 wrong current passwords from another", async () => {
    const victim = await createUser(server);
    const CHANGE = `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }`;
    // A stolen access token used from the attacker's address.
    const stolen = { headers: { ...attacker.headers, authorization: `Bearer ${victim.token}` } };
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const wrong = await server.graphql(CHANGE, { c: "wrong password", n: "the attacker's passphrase" }, stolen);
      expect(errorCode(wrong)).toBe("BAD_USER_INPUT");
    }
    expectRateLimited(await server.graphql(CHANGE, { c: victim.password, n: "the attacker's passphrase" }, stolen), 900);
    const mine = await server.graphql(
      CHANGE,
      { c: victim.password, n: "the owner's new passphrase" },
      {
        headers: { ...owner.headers, authorization: `Bearer ${victim.token}` },
      },
    );
    expect(mine.errors).toBeUndefined();
  });
});

describe("throttling registration and refresh per address", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ REGISTER_MAX_PER_ADDRESS: "2", REFRESH_MAX_PER_ADDRESS: "3" });
  });
  afterAll(() => server.close());

  it("refuses a third registration from one address within the hour, writing nothing", async () => {
    const register = (name: string) =>
      server.graphql(REGISTER, { input: { email: `${name}@example.com`, username: name, password: "a long enough secret" } });
    expect((await register(unique("r"))).errors).toBeUndefined();
    expect((await register(unique("r"))).errors).toBeUndefined();
    const name = unique("r");
    expectRateLimited(await register(name), 3600);
    const login = await server.graphql(LOGIN, { input: { email: `${name}@example.com`, password: "a long enough secret" } });
    expect(errorCode(login)).toBe("UNAUTHENTICATED");
  });

  it("refuses a fourth refresh from one address within the minute", async () => {
    const responses = [];
    for (let attempt = 0; attempt < 4; attempt += 1) responses.push(await server.graphql(REFRESH, { token: "x".repeat(43) }));
    expect(responses.slice(0, 3).map(errorCode)).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED"]);
    expectRateLimited(responses[3]!, 60);
  });

  it("ignores X-Forwarded-For unless TRUST_PROXY is set", async () => {
    // This server does not trust proxies: a forged header does not give a fresh address.
    const response = await server.graphql(REFRESH, { token: "x".repeat(43) }, { headers: { "x-forwarded-for": "198.51.100.7" } });
    expectRateLimited(response, 60);
  });
});
