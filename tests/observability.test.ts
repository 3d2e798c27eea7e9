import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, type TestUser } from "./support/factories.js";
import { LogCapture, startServer, type TestServer } from "./support/server.js";

/** The operator's view: one log line per request, nothing secret in the log, Prometheus metrics. */
describe("logs and metrics", () => {
  const logs = new LogCapture();
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    server = await startServer({}, logs);
    user = await createUser(server);
  });
  afterAll(() => server.close());

  const linesOf = (requestId: string) => logs.lines.filter((line) => line.reqId === requestId);

  it("writes one line per request with its id, operation, viewer, duration, outcome and error codes", async () => {
    const ok = await server.graphql(`query MyDatasets { datasets { totalCount } }`, {}, { token: user.token });
    expect(ok.errors).toBeUndefined();
    const okId = ok.headers.get("x-request-id")!;
    const failed = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { id } }`,
      { id: "00000000-0000-4000-8000-000000000000" },
      { token: user.token },
    );
    const refused = await server.graphql(`{ nope }`);

    const [line] = linesOf(okId).filter((entry) => entry.msg === "request");
    expect(line).toMatchObject({
      method: "POST",
      path: "/graphql",
      status: 200,
      operation: "query datasets",
      operationName: "MyDatasets",
      viewerId: user.id,
      outcome: "success",
    });
    expect(line!.durationMs).toBeGreaterThan(0);
    expect(linesOf(okId).filter((entry) => entry.msg === "request")).toHaveLength(1);

    const [failedLine] = linesOf(failed.headers.get("x-request-id")!).filter((entry) => entry.msg === "request");
    expect(failedLine).toMatchObject({ operation: "query dataset", outcome: "error", errorCodes: ["NOT_FOUND"] });
    const [refusedLine] = linesOf(refused.headers.get("x-request-id")!).filter((entry) => entry.msg === "request");
    // A request error is answered 200 under application/json, and is still "refused": it never ran.
    expect(refusedLine).toMatchObject({ status: 200, outcome: "refused", errorCodes: ["GRAPHQL_VALIDATION_FAILED"] });
  });

  it("never writes a password, a token or the Authorization header", async () => {
    const secret = "an unmistakable passphrase 1234";
    const other = await createUser(server, { password: secret });
    const login = await server.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`, {
      input: { email: other.email, password: secret },
    });
    const { accessToken, refreshToken } = login.data.login;
    await server.graphql(`mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }`, { t: refreshToken });
    await server.graphql(`{ me { id } }`, {}, { token: `${accessToken}x` });
    // A password sent inline, in a query that fails validation, is not echoed either.
    await server.graphql(`mutation { login(input: { email: "${other.email}", password: "${secret}", extra: 1 }) { accessToken } }`);
    // A variable that fails coercion: graphql-js's message repeats the whole value.
    await server.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken } }`, {
      input: { email: other.email, password: secret, extra: 1 },
    });
    // A personal access token: made (its secret in the answer), used, and a wrong one tried.
    const made = await server.graphql(
      `mutation { createAccessToken(input: { name: "logged?", scope: WRITE }) { secret } }`,
      {},
      { token: user.token },
    );
    const personal = made.data.createAccessToken.secret as string;
    await server.graphql(`{ me { id } }`, {}, { token: personal });
    await server.graphql(`{ me { id } }`, {}, { token: `${personal.slice(0, -1)}x` });
    await fetch(`${server.origin}/uploads`, { method: "POST", headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${personal}` } });
    const everything = JSON.stringify(logs.lines);
    expect(everything).not.toContain(personal.slice(12));
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(accessToken);
    expect(everything).not.toContain(refreshToken);
    expect(everything).not.toContain(user.token);
    expect(everything.toLowerCase()).not.toContain("bearer ");
  });

  it("exposes Prometheus metrics: requests, latency, errors, statements, event loop, process", async () => {
    await server.graphql(`{ dataset(id: "00000000-0000-4000-8000-000000000000") { id } }`, {}, { token: user.token });
    const response = await fetch(`${new URL(server.url).origin}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/graphql_requests_total\{operation="query datasets",outcome="success"\} \d+/);
    expect(text).toMatch(/graphql_request_duration_seconds_bucket\{le="0\.1",operation="query dataset",outcome="error"\} \d+/);
    expect(text).toMatch(/graphql_errors_total\{code="NOT_FOUND"\} [1-9]/);
    expect(text).toMatch(/db_statement_duration_seconds_count [1-9]/);
    expect(text).toMatch(/nodejs_eventloop_lag_seconds /);
    expect(text).toMatch(/process_resident_memory_bytes /);
  });
});
