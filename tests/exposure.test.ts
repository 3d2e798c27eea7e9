import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, type TestUser } from "./support/factories.js";
import { startServer, type TestServer, type UntypedData } from "./support/server.js";

/** What the server shows of itself, and what it lets a client choose. */

const PRODUCTION = { NODE_ENV: "production", DATABASE_URL: "postgres://unused.invalid/tests", BCRYPT_COST: "10" };
const TOKEN = randomBytes(24).toString("hex");

const origin = (server: TestServer) => new URL(server.url).origin;

/** A port nothing listens on right now (the kernel's choice, given back at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
    probe.once("error", reject);
  });
}

describe("/metrics in production", () => {
  let closed: TestServer;
  let withToken: TestServer;
  let onPort: TestServer;
  let metricsPort: number;
  beforeAll(async () => {
    closed = await startServer(PRODUCTION);
    withToken = await startServer({ ...PRODUCTION, METRICS_TOKEN: TOKEN }, undefined, closed);
    metricsPort = await freePort();
    onPort = await startServer({ ...PRODUCTION, METRICS_PORT: String(metricsPort) }, undefined, closed);
  });
  afterAll(async () => {
    await onPort?.close();
    await withToken?.close();
    await closed?.close();
  });

  it("is not served without METRICS_TOKEN or METRICS_PORT", async () => {
    const response = await fetch(`${origin(closed)}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain("nodejs_version_info");
  });

  it("wants Authorization: Bearer <METRICS_TOKEN> when it is set", async () => {
    const url = `${origin(withToken)}/metrics`;
    for (const authorization of [undefined, "Bearer wrong", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
      const response = await fetch(url, { headers: authorization ? { authorization } : {} });
      expect(response.status, authorization).toBe(401);
      expect(await response.text()).not.toContain("nodejs_version_info");
    }
    const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("nodejs_version_info");
  });

  it("moves to METRICS_PORT when it is set, and leaves the API's port", async () => {
    expect((await fetch(`${origin(onPort)}/metrics`)).status).toBe(404);
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await response.text()).toContain("graphql_requests_total");
    expect((await fetch(`http://127.0.0.1:${metricsPort}/graphql`)).status).toBe(404);
  });
});

describe("what a client may choose", () => {
  let server: TestServer;
  let proxied: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    server = await startServer();
    proxied = await startServer({ TRUST_PROXY: "true" }, undefined, server);
    user = await createUser(server);
  });
  afterAll(async () => {
    await proxied?.close();
    await server?.close();
  });

  it("says Cache-Control: no-store on every GraphQL answer, signed in or not, GET or POST", async () => {
    const signedIn = await server.graphql(`{ me { id } }`, {}, { token: user.token });
    const anonymous = await server.graphql(`{ __typename }`);
    const get = await fetch(`${server.url}?query=${encodeURIComponent("{ me { id } }")}`, {
      headers: { authorization: `Bearer ${user.token}`, "apollo-require-preflight": "true" },
    });
    const refused = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: "{ not json" });
    expect(signedIn.data.me.id).toBe(user.id);
    expect(get.status).toBe(200);
    for (const headers of [signedIn.headers, anonymous.headers, get.headers, refused.headers]) {
      expect(headers.get("cache-control")).toBe("no-store");
    }
  });

  it("keeps a client's X-Request-Id only behind a proxy (TRUST_PROXY)", async () => {
    const direct = await server.graphql(`{ me { id } }`, {}, { headers: { "x-request-id": "chosen-by-client" } });
    expect(direct.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(direct.errors![0]!.extensions.requestId).toBe(direct.headers.get("x-request-id"));
    const behind = await proxied.graphql(`{ me { id } }`, {}, { headers: { "x-request-id": "trace-123" } });
    expect(behind.headers.get("x-request-id")).toBe("trace-123");
    expect(behind.errors![0]!.extensions.requestId).toBe("trace-123");
    const malformed = await proxied.graphql(`{ me { id } }`, {}, { headers: { "x-request-id": "bad id with spaces" } });
    expect(malformed.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses a JSON body that is not UTF-8 with 400 BAD_REQUEST, and writes nothing", async () => {
    const before = await server.graphql(`{ datasets { totalCount } }`, {}, { token: user.token });
    // A dataset name holding the bytes FF FE, which no UTF-8 text has.
    const body = Buffer.concat([
      Buffer.from(JSON.stringify({ query: `mutation { createDataset(input: { name: "a` })),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`b" }) { id name } }"}`),
    ]);
    expect(body.toString("utf8")).toContain("\ufffd"); // what the server used to read
    const response = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${user.token}` },
      body,
    });
    expect(response.status).toBe(400);
    const answer = (await response.json()) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
    expect(answer.errors[0]!.extensions.code).toBe("BAD_REQUEST");
    expect(answer.errors[0]!.message).toMatch(/not valid UTF-8/);
    const after = await server.graphql(`{ datasets { totalCount } }`, {}, { token: user.token });
    expect(after.data.datasets.totalCount).toBe(before.data.datasets.totalCount);
  });

  it("still reads UTF-8 bodies, a byte-order mark and characters beyond the BMP included", async () => {
    const response = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${user.token}` },
      body: `\ufeff${JSON.stringify({ query: `mutation { createDataset(input: { name: "Регенфалл 📊" }) { name } }` })}`,
    });
    expect(((await response.json()) as UntypedData).data.createDataset.name).toBe("Регенфалл 📊");
  });

  it("still refuses prototype poisoning in a JSON body", async () => {
    const response = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"query":"{ __typename }","__proto__":{"polluted":true}}',
    });
    expect(response.status).toBe(400);
  });
});
