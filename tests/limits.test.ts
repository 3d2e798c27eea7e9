import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { errorCode, type GraphQLResponse, startServer, type TestServer, type UntypedData } from "./support/server.js";

/**
 * Refused with `code`, and no SQL ran: it never reached execution. Sent as application/json
 * (the default), a request error is 200; `strict` is the 400 of application/graphql-response+json.
 */
function expectRefused(response: GraphQLResponse, code: string, message: RegExp, status = 200) {
  expect(response.status).toBe(status);
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

  // GraphQL over HTTP: a request error is 200 under application/json (the default here), and
  // 4xx under application/graphql-response+json.
  it.each([
    ["a parse failure", `{ me { id }`, {}, "GRAPHQL_PARSE_FAILED"],
    ["a validation failure", `{ nope }`, {}, "GRAPHQL_VALIDATION_FAILED"],
    ["the alias limit", `{ ${Array.from({ length: 31 }, (_, index) => `a${index}: __typename`).join(" ")} }`, {}, "GRAPHQL_VALIDATION_FAILED"],
    [
      "the cost limit",
      `{ ${Array.from({ length: 25 }, (_, index) => `p${index}: datasets(first: 100) { nodes { id owner { id } } }`).join(" ")} }`,
      {},
      "GRAPHQL_VALIDATION_FAILED",
    ],
    ["a variable that does not coerce", `query($n: Int) { datasets(first: $n) { totalCount } }`, { n: "ten" }, "BAD_USER_INPUT"],
  ])("answers %s 400 under application/graphql-response+json and 200 under application/json", async (_label, query, variables, code) => {
    const strict = { token: user.token, headers: { accept: "application/graphql-response+json" } };
    expectRefused(await server.graphql(query, variables, strict), code, /./, 400);
    expectRefused(await server.graphql(query, variables, { token: user.token, headers: { accept: "application/json" } }), code, /./, 200);
  });

  it("counts every alias, __typename's too, at the root and below", async () => {
    const typenames = (count: number) => Array.from({ length: count }, (_, index) => `t${index}: __typename`).join(" ");
    for (const query of [`{ ${typenames(101)} }`, `{ me { ${typenames(101)} } }`]) {
      const response = await server.graphql(query, {}, { token: user.token });
      expectRefused(response, "GRAPHQL_VALIDATION_FAILED", /^Aliases limit of 30 exceeded, found 101\.$/);
      expect(response.errors![0]!.extensions.limit).toBe("MAX_ALIASES");
    }
    expect((await server.graphql(`{ ${typenames(30)} }`)).errors).toBeUndefined();
  });

  it("answers a document of 1,000 unknown directives with the directive limit's one error", async () => {
    const directives = Array.from({ length: 1000 }, (_, index) => `@d${index}`).join(" ");
    // The fragment first: graphql-js's own rules see it (and stop at 100 errors) before the operation.
    for (const query of [`{ __typename ${directives} }`, `fragment F on Query { __typename ${directives} } { ...F }`]) {
      const response = await server.graphql(query);
      expect(response.errors).toHaveLength(1);
      expectRefused(response, "GRAPHQL_VALIDATION_FAILED", /^Directives limit of 10 exceeded, found 1000\.$/);
      expect(response.errors![0]!.extensions.limit).toBe("MAX_DIRECTIVES");
    }
    // Without a limit refused, graphql-js's own errors still come (its cap: 100 and a last word).
    const few = await server.graphql(`{ __typename @a @b }`);
    expect(few.errors!.map((error) => error.message)).toEqual(['Unknown directive "@a".', 'Unknown directive "@b".']);
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

  it("answers a chain of 6,000 fragments with a parse error, not a stack overflow", async () => {
    const chain = Array.from({ length: 6000 }, (_, index) => `fragment F${index} on Query { ...F${index + 1} }`).join(" ");
    const response = await server.graphql(`{ ...F0 } ${chain} fragment F6000 on Query { __typename }`);
    expect(response.status).toBe(200);
    expect(errorCode(response)).toBe("GRAPHQL_PARSE_FAILED");
  });

  it("refuses a 5 MB body with 413 before reading it as GraphQL", async () => {
    const response = await post(JSON.stringify({ query: `{ me { id } }`, variables: { padding: "x".repeat(5 * 1024 * 1024) } }));
    expect(response.status).toBe(413);
    const body = (await response.json()) as UntypedData;
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
      // datasets (1) + totalCount (a COUNT: 10) + first × (nodes 1 + owner 1)
      const small = await server.graphql(PAGE, { first: 10 }, { token: user.token });
      const large = await server.graphql(PAGE, { first: 100 }, { token: user.token });
      const fallback = await server.graphql(`{ datasets { nodes { id } } }`, {}, { token: user.token });
      expect([small, large, fallback].map((response) => response.extensions?.cost)).toEqual([31, 211, 21]);
    });

    it("weighs a search (a scan) and its count (a second scan), so 30 searched counts are refused", async () => {
      const counted = (search: string) => `datasets(first: 1, filter: { search: "${search}" }) { totalCount }`;
      const costOf = async (query: string) => (await server.graphql(query, {}, { token: user.token })).extensions?.cost;
      expect(await costOf(`{ datasets(first: 1) { totalCount } }`)).toBe(1 + 10);
      expect(await costOf(`{ ${counted("")} }`)).toBe(1 + 10); // an empty search filters nothing
      // datasets (1) + search (100) + totalCount (10) + its search again (100)
      expect(await costOf(`{ ${counted("zzzz")} }`)).toBe(211);
      expect(await costOf(`query($s: String = "zzzz") { datasets(filter: { search: $s }) { nodes { id } } }`)).toBe(1 + 100 + 20);
      const aliases = Array.from({ length: 30 }, (_, index) => `c${index}: ${counted("zzzz")}`);
      const response = await server.graphql(`{ ${aliases.join(" ")} }`, {}, { token: user.token });
      expect(response.errors![0]!.message).toMatch(/Query cost 6330 exceeds the limit of 5000/);
    });

    it("refuses an operation over the cost limit before it runs, saying its cost", async () => {
      const aliases = Array.from({ length: 25 }, (_, index) => `p${index}: datasets(first: 100) { nodes { id owner { id } } }`);
      const response = await server.graphql(`{ ${aliases.join(" ")} }`, {}, { token: user.token });
      // No resolver ran: not a statement (the viewer check is cached from the requests before).
      expectRefused(response, "GRAPHQL_VALIDATION_FAILED", /Query cost 5025 exceeds the limit of 5000/);
      expect(response.errors![0]!.extensions).toMatchObject({ limit: "MAX_COST", cost: 5025, maxCost: 5000 });
    });

    it("costs a variable by its default when it is not sent, as execution will use it", async () => {
      const aliases = Array.from({ length: 25 }, (_, index) => `p${index}: datasets(first: $n) { nodes { id owner { id } } }`);
      const query = `query($n: Int = 100) { ${aliases.join(" ")} }`;
      for (const variables of [{}, { n: 100 }]) {
        const response = await server.graphql(query, variables, { token: user.token });
        expect(response.errors![0]!.message).toMatch(/Query cost 5025 exceeds the limit of 5000/);
      }
      // A sent value still wins over the default.
      expect((await server.graphql(query, { n: 1 }, { token: user.token })).extensions?.cost).toBe(25 * 3);
    });
  });
});

/**
 * `fragment F0 on Query { ...F1 ...F1 } fragment F1 on Query { ...F2 ...F2 } …`: a document
 * of a few hundred bytes whose spreads, written out, are 2^depth (or width^depth) copies.
 * Walking each spread again (as the cost analysis once did) takes hours at depth 30 and
 * stops the event loop for every other request meanwhile.
 */
function fragmentChain(depth: number, width: number, leaf: string): string {
  const spreads = (level: number) => Array.from({ length: width }, () => `...F${level}`).join(" ");
  const chain = Array.from({ length: depth }, (_, level) => `fragment F${level} on Query { ${spreads(level + 1)} }`);
  return `{ ...F0 } ${chain.join(" ")} fragment F${depth} on Query { ${leaf} }`;
}

describe("documents built to explode", () => {
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    server = await startServer();
    user = await createUser(server);
    // The viewer check is cached from here on: a refusal runs no statement at all.
    await server.graphql(`{ me { id } }`, {}, { token: user.token });
  });
  afterAll(() => server.close());

  const healthz = () => fetch(`${new URL(server.url).origin}/healthz`);

  it("answers a 30-deep chain of doubled fragment spreads with its cost, and /healthz meanwhile", async () => {
    const [response, health] = await Promise.all([server.graphql(fragmentChain(30, 2, "__typename")), healthz()]);
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({ __typename: "Query" });
    expect(response.extensions?.cost).toBe(0);
    expect(health.status).toBe(200);
  });

  it("refuses a 30-deep doubled chain that fetches something: its cost is 2^30 times the leaf's", async () => {
    const [response, health] = await Promise.all([server.graphql(fragmentChain(30, 2, "me { id }"), {}, { token: user.token }), healthz()]);
    expectRefused(response, "GRAPHQL_VALIDATION_FAILED", new RegExp(`Query cost ${2 ** 30} exceeds the limit of 5000`));
    expect(health.status).toBe(200);
  });

  it("refuses a 10-wide, 10-deep chain (10^10 spreads) by its cost", async () => {
    const response = await server.graphql(fragmentChain(10, 10, "me { id }"), {}, { token: user.token });
    expectRefused(response, "GRAPHQL_VALIDATION_FAILED", new RegExp(`Query cost ${10 ** 10} exceeds the limit`));
  });

  it("says a cost no double can hold as the largest safe integer, and refuses it", async () => {
    // 2^300 spreads of a list: the cost overflows to Infinity on the way.
    const response = await server.graphql(fragmentChain(300, 2, "datasets { totalCount }"), {}, { token: user.token });
    expectRefused(response, "GRAPHQL_VALIDATION_FAILED", new RegExp(`Query cost ${Number.MAX_SAFE_INTEGER} exceeds`));
  });
});

describe("the analysis budget (MAX_ANALYSIS_NODES)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ MAX_ANALYSIS_NODES: "100" });
  });
  afterAll(() => server.close());

  it("refuses an operation whose cost analysis would visit more selections than the budget", async () => {
    expect((await server.graphql(`{ ${"__typename ".repeat(100)} }`)).errors).toBeUndefined();
    const response = await server.graphql(`{ ${"__typename ".repeat(101)} }`);
    expectRefused(response, "GRAPHQL_VALIDATION_FAILED", /too complex to analyse: it visits more than 100 selections/);
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
    expect(((await large.json()) as UntypedData).errors[0].extensions.code).toBe("BAD_REQUEST");
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
