import { decodeJwt, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from "../src/auth/tokens.js";
import { createUser, type TestUser } from "./support/factories.js";
import { errorCode, LogCapture, startServer, type TestServer, type UntypedData } from "./support/server.js";

/** The HTTP face: tokens, transport errors, GET, health. */
describe("HTTP and access tokens", () => {
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    server = await startServer();
    user = await createUser(server);
  });
  afterAll(() => server.close());

  /** A token like the server's own for `user` (same session), with claims overridden. */
  const sign = (secret: string, claims: { sub?: string; iss?: string; aud?: string; exp?: number; nbf?: number; ver?: number } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const { sid } = decodeJwt(user.token);
    const jwt = new SignJWT({ ver: claims.ver ?? 0, sid })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(claims.sub ?? user.id)
      .setIssuer(claims.iss ?? TOKEN_ISSUER)
      .setAudience(claims.aud ?? TOKEN_AUDIENCE)
      .setIssuedAt(now - 10)
      .setJti("test")
      .setExpirationTime(claims.exp ?? now + 600);
    if (claims.nbf) jwt.setNotBefore(claims.nbf);
    return jwt.sign(new TextEncoder().encode(secret));
  };

  it("accepts a valid token signed with its secret", async () => {
    const good = await server.graphql(`{ me { id } }`, {}, { token: await sign(server.secret) });
    expect(good.data.me.id).toBe(user.id);
  });

  it.each([
    ["garbage", async () => "not-a-jwt"],
    ["signed with another secret", async () => sign("another secret that is long enough to be real")],
    [
      "alg none",
      async () =>
        new UnsecuredJWT({ ver: 0 })
          .setSubject(user.id)
          .setIssuer(TOKEN_ISSUER)
          .setAudience(TOKEN_AUDIENCE)
          .setIssuedAt()
          .setExpirationTime("5m")
          .encode(),
    ],
    ["expired", async () => sign(server.secret, { exp: Math.floor(Date.now() / 1000) - 60 })],
    ["not yet valid", async () => sign(server.secret, { nbf: Math.floor(Date.now() / 1000) + 600 })],
    ["wrong issuer", async () => sign(server.secret, { iss: "someone-else" })],
    ["wrong audience", async () => sign(server.secret, { aud: "another-api" })],
    ["for a user that does not exist", async () => sign(server.secret, { sub: "00000000-0000-4000-8000-000000000000" })],
    ["of an older token version", async () => sign(server.secret, { ver: -1 })],
    [
      "tampered payload",
      async () => {
        const [header, , signature] = user.token.split(".");
        const payload = Buffer.from(
          JSON.stringify({
            sub: "00000000-0000-4000-8000-000000000000",
            ver: 0,
            iss: TOKEN_ISSUER,
            aud: TOKEN_AUDIENCE,
            exp: 9999999999,
            iat: 1,
            jti: "x",
          }),
        ).toString("base64url");
        return `${header}.${payload}.${signature}`;
      },
    ],
  ])("fails the whole request with 401 UNAUTHENTICATED for a token %s", async (_label, makeToken) => {
    // Even a public operation fails: the client must learn that its token is bad.
    const response = await server.graphql(`{ __typename }`, {}, { token: await makeToken() });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe("UNAUTHENTICATED");
    expect(response.data).toBeUndefined();
    expect(response.headers.get("www-authenticate")).toContain("invalid_token");
  });

  it("fails with 401 for an Authorization header that is not a bearer token", async () => {
    const response = await server.graphql(`{ __typename }`, {}, { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe("UNAUTHENTICATED");
  });

  it("answers a query over GET but never runs a mutation over GET", async () => {
    const base = server.url;
    const get = (query: string) =>
      fetch(`${base}?query=${encodeURIComponent(query)}`, {
        headers: { authorization: `Bearer ${user.token}`, "apollo-require-preflight": "true" },
      });
    const query = await get(`{ me { id } }`);
    expect(query.status).toBe(200);
    expect(((await query.json()) as UntypedData).data.me.id).toBe(user.id);

    const mutation = await get(`mutation { createDataset(input: { name: "via GET" }) { id } }`);
    expect(mutation.status).toBe(405);
    const list = await server.graphql(`{ datasets { totalCount } }`, {}, { token: user.token });
    expect(list.data.datasets.totalCount).toBe(0);
  });

  it("refuses a GET without a CSRF-safe header (Apollo's CSRF prevention)", async () => {
    const response = await fetch(`${server.url}?query=${encodeURIComponent("{ __typename }")}`);
    expect(response.status).toBe(400);
  });

  it("answers a body that is not JSON with 400 BAD_REQUEST in GraphQL's error shape", async () => {
    const response = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: "{ not json" });
    expect(response.status).toBe(400);
    const body = (await response.json()) as UntypedData;
    expect(body.errors[0].extensions.code).toBe("BAD_REQUEST");
    expect(body.errors[0].extensions.requestId).toBe(response.headers.get("x-request-id"));
  });

  it("gives each request an id, in X-Request-Id and on its errors (a client's own is kept only behind a proxy)", async () => {
    const response = await server.graphql(`{ me { id } }`);
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.errors![0]!.extensions.requestId).toBe(response.headers.get("x-request-id"));
  });

  it.each([
    [{ input: { email: "a@example.com", username: "abc", password: "long enough secret", role: "ADMIN" } }, "input.role"],
    [{ input: { email: 5, username: "abc", password: "long enough secret" } }, "input.email"],
    [{ input: { username: "abc", password: "long enough secret" } }, "input.email"],
    [{}, "input"],
  ])("names the input of a variable that does not fit its type in extensions.field (%j)", async (variables, field) => {
    const query = `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`;
    // A request error: 200 under application/json, 400 under application/graphql-response+json.
    const response = await server.graphql(query, variables);
    expect(response.status).toBe(200);
    expect(errorCode(response)).toBe("BAD_USER_INPUT");
    expect(response.errors![0]!.extensions.field).toBe(field);
    const strict = await server.graphql(query, variables, { headers: { accept: "application/graphql-response+json" } });
    expect(strict.status).toBe(400);
    expect(strict.errors![0]!.extensions.field).toBe(field);
  });

  it("answers at once a long bad variable value that repeats graphql-js's own wording", { timeout: 10_000 }, async () => {
    // A regular expression over the error message once took minutes on such a value.
    const response = await server.graphql(
      `query($f: Int) { datasets(first: $f) { totalCount } }`,
      {
        f: "got invalid value ".repeat(13_000), // 234 KB: just under the body limit
      },
      { token: user.token },
    );
    expect(response.status).toBe(200);
    expect(errorCode(response)).toBe("BAD_USER_INPUT");
    expect(response.errors![0]!.extensions.field).toBe("f");
  });

  it.each([
    [`query($id: ID = "x") { dataset(id: $id) { id } }`, { id: null }, "id"],
    [`mutation($n: String = "x") { createDataset(input: { name: $n }) { id } }`, { n: null }, "input"],
  ])("refuses a null sent into a non-null argument through a defaulted variable as BAD_USER_INPUT (%s)", async (query, variables, field) => {
    const response = await server.graphql(query, variables, { token: user.token });
    expect(errorCode(response)).toBe("BAD_USER_INPUT");
    expect(response.errors![0]!.extensions.field).toBe(field);
    const list = await server.graphql(`{ datasets { totalCount } }`, {}, { token: user.token });
    expect(list.data.datasets.totalCount).toBe(0);
  });

  it.each([[{ version: 1, sha256Hash: "abc" }], [{ version: 2, sha256Hash: "abc" }], ["x"]])(
    "refuses a malformed persisted-query extension with a 4xx and a code, not an internal error (%j)",
    async (persistedQuery) => {
      const response = await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }", extensions: { persistedQuery } }),
      });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      const body = (await response.json()) as UntypedData;
      expect(body.errors[0].extensions.code).not.toBe("INTERNAL_SERVER_ERROR");
      expect(body.errors[0].extensions.code).toBeTypeOf("string");
    },
  );

  it("serves /healthz and /readyz", async () => {
    const origin = new URL(server.url).origin;
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    const ready = await fetch(`${origin}/readyz`);
    expect(ready.status).toBe(200);
  });
});

describe("internal errors", () => {
  it("are masked: no driver text or stack, a request id the client can quote", async () => {
    const logs = new LogCapture();
    const server = await startServer({}, logs);
    const user = await createUser(server);
    // Pull the database out from under the running server.
    await server.database.close();
    // (A query whose resolver reads the database: `me` may be answered by the viewer cache.)
    for (const [query, token] of [
      [`{ datasets { nodes { id } } }`, user.token],
      [`mutation { login(input: { email: "${user.email}", password: "whatever it is" }) { accessToken } }`, undefined],
    ] as const) {
      const response = await server.graphql(query, {}, { token });
      expect(errorCode(response)).toBe("INTERNAL_SERVER_ERROR");
      const [error] = response.errors!;
      expect(error!.message).toBe("Internal server error");
      expect(error!.extensions.requestId).toBe(response.headers.get("x-request-id"));
      expect(JSON.stringify(response.errors)).not.toMatch(/pglite|pool|closed|stack|at .*\.ts/i);
      // The operator finds the real cause in the log under the same request id.
      const logged = logs.lines.find((line) => line.reqId === error!.extensions.requestId && line.level >= 50);
      expect(logged?.err?.message).toMatch(/closed|end on the pool/i);
    }
    const origin = new URL(server.url).origin;
    expect((await fetch(`${origin}/readyz`)).status).toBe(503);
    await server.close();
  });
});
