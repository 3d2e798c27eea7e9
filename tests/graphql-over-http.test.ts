import { serverAudits, type AuditResult } from "graphql-http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { negotiateResponseType } from "../src/http/conformance.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * GraphQL over HTTP conformance: every audit of graphql-http's server suite against the
 * real server, one test each. MUST audits must pass; a SHOULD or MAY audit may fail only
 * when it is listed below with its reason, and then it must still fail, so the list
 * cannot go stale: when one starts passing, delete its line.
 */

/** SHOULD and MAY audits the server knowingly fails, and why (none today: keep it so). */
const KNOWN_FAILURES: Record<string, string> = {};

/**
 * Audits that send a GET with no header but Accept. Apollo's CSRF prevention (kept on)
 * refuses such a GET with 400, since a browser could send it cross-site without a
 * preflight. Every audit GET therefore carries `apollo-require-preflight: true`, as our
 * clients' GETs do (docs/clients.md); these are checked to fail without it, which is CSRF
 * prevention still at work.
 */
const NEED_PREFLIGHT: Record<string, string> = {
  "5A70": "a GET query needs a preflight-forcing header (Apollo's CSRF prevention)",
  D6D5: "a GET query needs a preflight-forcing header (Apollo's CSRF prevention)",
  "6A70": "a GET query needs a preflight-forcing header (Apollo's CSRF prevention)",
};

type Fetch = typeof fetch;
const withPreflight: Fetch = (input, init = {}) => {
  const method = (init.method ?? "GET").toUpperCase();
  if (method !== "GET") return fetch(input, init);
  const headers = new Headers(init.headers);
  headers.set("apollo-require-preflight", "true");
  return fetch(input, { ...init, headers });
};

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server?.close());

const url = () => server.url;
const audits = serverAudits({ url, fetchFn: withPreflight });
const plainAudits = new Map(serverAudits({ url, fetchFn: fetch }).map((audit) => [audit.id, audit]));
const levelOf = (name: string) => name.slice(0, name.indexOf(" ")) as "MUST" | "SHOULD" | "MAY";

/** What a failed audit saw, for the failure message. */
async function describeFailure(result: AuditResult): Promise<string> {
  if (result.status === "ok") return "passed";
  const body = await result.response.text().catch(() => "(body already read)");
  return `${result.reason}: HTTP ${result.response.status} ${result.response.headers.get("content-type")} ${body.slice(0, 300)}`;
}

describe("GraphQL over HTTP (graphql-http server audits)", () => {
  const passed = { MUST: 0, SHOULD: 0, MAY: 0 };
  const total = { MUST: 0, SHOULD: 0, MAY: 0 };
  for (const audit of audits) total[levelOf(audit.name)] += 1;

  afterAll(() => {
    console.info(
      `GraphQL over HTTP audits passed: MUST ${passed.MUST}/${total.MUST}, SHOULD ${passed.SHOULD}/${total.SHOULD}, MAY ${passed.MAY}/${total.MAY}`,
    );
  });

  it("lists only SHOULD and MAY audits that exist as exceptions", () => {
    const byId = new Map(audits.map((audit) => [audit.id, audit]));
    for (const id of [...Object.keys(KNOWN_FAILURES), ...Object.keys(NEED_PREFLIGHT)]) {
      const audit = byId.get(id);
      expect(audit, `no audit ${id}`).toBeDefined();
      expect(levelOf(audit!.name), `${id} is a MUST: it may not be excused`).not.toBe("MUST");
    }
  });

  // "%s" with the whole title: vitest's "$name" would quote and cut the audit's name.
  it.each(audits.map((audit) => [`${audit.id} ${audit.name}`, audit] as const))("%s", async (_title, { id, name, fn }) => {
    const level = levelOf(name);
    const result = await fn();
    const known = KNOWN_FAILURES[id];
    if (known === undefined) {
      expect(result.status, `${id} ${name}: ${await describeFailure(result)}`).toBe("ok");
      passed[level] += 1;
    } else {
      expect(result.status, `${id} now passes: delete it from KNOWN_FAILURES`).not.toBe("ok");
      console.info(`${id} ${name}: known failure (${(result as { reason: string }).reason}): ${known}`);
    }
    const preflight = NEED_PREFLIGHT[id];
    if (preflight !== undefined) {
      const plain = await plainAudits.get(id)!.fn();
      expect(plain.status, `${id} passes without apollo-require-preflight: is CSRF prevention off? (or delete it from NEED_PREFLIGHT)`).not.toBe(
        "ok",
      );
      console.info(`${id} ${name}: passes with apollo-require-preflight: true only: ${preflight}`);
    }
  });
});

describe("GraphQL over HTTP beyond the audits", () => {
  const error = async (response: Response) => ((await response.json()) as { errors: Array<{ extensions: Record<string, unknown> }> }).errors[0]!;

  it.each(["PUT", "PATCH", "DELETE"])("answers %s on the endpoint with 405, Allow: GET, POST and BAD_REQUEST", async (method) => {
    const response = await fetch(server.url, {
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, POST");
    const first = await error(response);
    expect(first.extensions.code).toBe("BAD_REQUEST");
    expect(first.extensions.requestId).toBe(response.headers.get("x-request-id"));
  });

  it("answers a mutation over GET with 405 and Allow: POST (Apollo's own)", async () => {
    const response = await fetch(`${server.url}?query=${encodeURIComponent("mutation { logoutAll }")}`, {
      headers: { "apollo-require-preflight": "true" },
    });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    expect((await error(response)).extensions.code).toBe("BAD_REQUEST");
  });

  it.each([
    ["text/plain", {}],
    ["text/plain", { "apollo-require-preflight": "true" }],
    ["application/x-www-form-urlencoded", {}],
    ["multipart/form-data; boundary=x", {}],
    ["application/graphql", {}],
    ["application/xml", {}],
  ])("refuses a %s body with 415 BAD_REQUEST, whatever the headers (%j)", async (type, headers) => {
    const response = await fetch(server.url, { method: "POST", headers: { "content-type": type, ...headers }, body: '{"query":"{ __typename }"}' });
    expect(response.status).toBe(415);
    expect((await error(response)).extensions.code).toBe("BAD_REQUEST");
  });

  it("refuses a POST without a content type with 415", async () => {
    const response = await fetch(server.url, { method: "POST", body: new Blob(['{"query":"{ __typename }"}']) });
    expect(response.status).toBe(415);
  });

  // Errors Fastify raises before Apollo runs are labelled the way Apollo labels its own answers.
  it.each([
    undefined,
    "*/*",
    "application/json",
    "application/graphql-response+json",
    "application/graphql-response+json, application/json;q=0.9",
    "application/json, application/graphql-response+json",
    "application/graphql-response+json, application/json",
    "application/json;q=0.5, application/graphql-response+json",
    "application/*;q=0.2, application/graphql-response+json;q=0.1",
    "application/json;charset=latin1, application/graphql-response+json;q=0.1",
    "application/graphql-response+json;charset=utf-8, */*;q=0.1",
    "text/html, application/graphql-response+json;q=0.9, */*;q=0.8",
  ])("labels a body that is not JSON as Apollo labels a query's answer (Accept: %s)", async (accept) => {
    const headers: Record<string, string> = { "content-type": "application/json", ...(accept ? { accept } : {}) };
    const apollo = await fetch(server.url, { method: "POST", headers, body: JSON.stringify({ query: "{ __typename }" }) });
    expect(apollo.status).toBe(200);
    const refused = await fetch(server.url, { method: "POST", headers, body: "{ not json" });
    expect(refused.status).toBe(400);
    expect(refused.headers.get("content-type")).toBe(apollo.headers.get("content-type"));
    expect(apollo.headers.get("content-type")).toContain(negotiateResponseType(accept)!);
  });

  it("answers a body that is too large in the media type asked for", async () => {
    const response = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      // Over Fastify's default limit (1 MiB) and any this server is likely to set.
      body: JSON.stringify({ query: `{ __typename }`, variables: { padding: "x".repeat(2 * 1024 * 1024) } }),
    });
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toBe("application/graphql-response+json; charset=utf-8");
    expect((await error(response)).extensions.code).toBe("BAD_REQUEST");
  });
});
