import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { errorCode, type GraphQLResponse, startServer, type TestServer } from "./support/server.js";

/** Refused with `code` and HTTP 400, and no SQL ran: it never reached execution. */
function expectRefused(response: GraphQLResponse, code: string, message: RegExp) {
  expect(response.status).toBe(400);
  expect(errorCode(response)).toBe(code);
  expect(response.errors![0]!.message).toMatch(message);
  expect(response.data ?? null).toBeNull();
  expect(response.statements).toBe(0);
}

const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken } }`;

/** Every limit refuses its abusive request before anything executes, with a clear error. */
describe("query limits", () => {
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    server = await startServer();
    user = await createUser(server);
    await createDataset(server, user);
  });
  afterAll(() => server.close());

  const post = (body: string) => fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body });

  it("refuses 1,000 aliases of `me` (past the token limit already), and 31", async () => {
    const aliases = (count: number) => `{ ${Array.from({ length: count }, (_, index) => `a${index}: me { id }`).join(" ")} }`;
    expectRefused(await server.graphql(aliases(1000)), "GRAPHQL_PARSE_FAILED", /more th[ae]t 5000 tokens/);
    expectRefused(await server.graphql(aliases(31)), "GRAPHQL_VALIDATION_FAILED", /Aliases limit of 30 exceeded, found 31/);
    expect((await server.graphql(aliases(30), {}, { token: user.token })).errors).toBeUndefined();
  });

  it("refuses depth 20 reached through fragments", async () => {
    // `__Type.ofType` nests without end: a chain of fragments, each one level deeper.
    const chain = Array.from({ length: 19 }, (_, level) => `fragment T${level} on __Type { name ofType { ...T${level + 1} } }`);
    const query = `{ __type(name: "Dataset") { ...T0 } } ${chain.join(" ")} fragment T19 on __Type { name }`;
    expectRefused(await server.graphql(query), "GRAPHQL_VALIDATION_FAILED", /depth limit of 10 exceeded/);
  });

  it("refuses more than 10 directives", async () => {
    // Each on a field of its own: repeated on one field, graphql-js would add its own errors.
    const query = `{ me { ${Array.from({ length: 11 }, (_, index) => `id${index}: id @include(if: true)`).join(" ")} } }`;
    expectRefused(await server.graphql(query), "GRAPHQL_VALIDATION_FAILED", /Directives limit of 10 exceeded/);
  });

  it("stops parsing a document of more than 5,000 tokens", async () => {
    const query = `{ me { ${"id ".repeat(6000)} } }`;
    expectRefused(await server.graphql(query), "GRAPHQL_PARSE_FAILED", /more th[ae]t 5000 tokens/);
  });

  it("answers a chain of 6,000 fragments with 400, not a stack overflow", async () => {
    const chain = Array.from({ length: 6000 }, (_, index) => `fragment F${index} on Query { ...F${index + 1} }`).join(" ");
    const response = await server.graphql(`{ ...F0 } ${chain} fragment F6000 on Query { __typename }`);
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe("GRAPHQL_PARSE_FAILED");
  });

  it("refuses a 5 MB body with 413 before reading it as GraphQL", async () => {
    const response = await post(JSON.stringify({ query: `{ me { id } }`, variables: { padding: "x".repeat(5 * 1024 * 1024) } }));
    expect(response.status).toBe(413);
    const body = (await response.json()) as any;
    expect(body.errors[0].extensions.code).toBe("BAD_REQUEST");
  });

  it("refuses a batch of 50 operations as a whole: none of them runs", async () => {
    const names = Array.from({ length: 50 }, () => unique("batch"));
    const batch = names.map((name) => ({
      query: REGISTER,
      variables: { input: { email: `${name}@example.com`, username: name, password: "a long enough secret" } },
    }));
    const response = await post(JSON.stringify(batch));
    expect(response.status).toBe(400);
    const login = await server.graphql(LOGIN, { input: { email: `${names[0]}@example.com`, password: "a long enough secret" } });
    expect(errorCode(login)).toBe("UNAUTHENTICATED");
  });

  describe("cost", () => {
    const PAGE = `query($first: Int) { datasets(first: $first) { totalCount nodes { id owner { id } } } }`;

    it("reports each response's cost, page size multiplied in", async () => {
      // datasets (1) + totalCount (1) + first × (nodes 1 + owner 1)
      const small = await server.graphql(PAGE, { first: 10 }, { token: user.token });
      const large = await server.graphql(PAGE, { first: 100 }, { token: user.token });
      const fallback = await server.graphql(`{ datasets { nodes { id } } }`, {}, { token: user.token });
      expect([small, large, fallback].map((response) => response.extensions?.cost)).toEqual([22, 202, 21]);
    });

    it("refuses an operation over the cost limit before it runs, saying its cost", async () => {
      const aliases = Array.from({ length: 25 }, (_, index) => `p${index}: datasets(first: 100) { nodes { id owner { id } } }`);
      const response = await server.graphql(`{ ${aliases.join(" ")} }`, {}, { token: user.token });
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe("GRAPHQL_VALIDATION_FAILED");
      expect(response.errors![0]!.message).toMatch(/Query cost 5025 exceeds the limit of 5000/);
      // No resolver ran: not a statement (the viewer check is cached from the requests before).
      expect(response.statements).toBe(0);
    });
  });
});

describe("batching, when turned on", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ ALLOW_BATCHED_REQUESTS: "true", MAX_BATCH_SIZE: "3" });
  });
  afterAll(() => server.close());

  const batch = (size: number) =>
    fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(Array.from({ length: size }, () => ({ query: "{ __typename }" }))),
    });

  it("answers a batch within MAX_BATCH_SIZE, and refuses a larger one", async () => {
    const small = await batch(3);
    expect(small.status).toBe(200);
    expect(((await small.json()) as unknown[]).length).toBe(3);
    const large = await batch(4);
    expect(large.status).toBe(400);
    expect(((await large.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
  });
});

describe("schema details in production", () => {
  let production: TestServer;
  let development: TestServer;
  beforeAll(async () => {
    production = await startServer({ NODE_ENV: "production", DATABASE_URL: "postgres://unused.invalid/tests", BCRYPT_COST: "10" });
    development = await startServer({}, undefined, production);
  });
  afterAll(async () => {
    await development.close();
    await production.close();
  });

  it("gives no field suggestions in production, and does in development", async () => {
    const query = `{ datasetz { totalCount } }`;
    const [prod, dev] = [await production.graphql(query), await development.graphql(query)];
    expect(errorCode(prod)).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(prod.errors![0]!.message).not.toMatch(/Did you mean/);
    expect(dev.errors![0]!.message, JSON.stringify(dev.errors)).toMatch(/Did you mean .*"datasets"/);
  });

  it("refuses introspection in production, and allows it in development", async () => {
    const query = `{ __schema { queryType { name } } }`;
    expect(errorCode(await production.graphql(query))).toBe("GRAPHQL_VALIDATION_FAILED");
    expect((await development.graphql(query)).data.__schema.queryType.name).toBe("Query");
  });
});
