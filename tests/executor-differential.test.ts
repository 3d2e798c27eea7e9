import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DefinitionNode, type FragmentDefinitionNode, Kind, type OperationDefinitionNode, parse, print, visit } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, DatabaseUnavailableError } from "../src/db/database.js";
import { jitRefusal } from "../src/graphql/fast-executor-guard.js";
import { buildSchema } from "../src/graphql/schema.js";
import { executorCounts } from "../src/graphql/fast-executor.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { createAdmin, createDataset, createUser, unique, type TestUser } from "./support/factories.js";
import { commitFiles, seedVersion, sha256 } from "./support/files.js";
import { settledPreviews } from "./support/previews.js";
import { startServer, type TestServer } from "./support/server.js";
import { createToken } from "./support/tokens.js";

/**
 * The compiled path (GRAPHQL_EXECUTOR=jit, src/graphql/fast-executor.ts) against graphql-js:
 * two instances on one database and one file store, one with each executor, asked every query
 * operation of the contract (client/operations) as every role, and their responses compared
 * byte for byte: status, data, errors with their messages, paths, locations and codes, and
 * the cost. Only what differs by instance is set aside (each response's request id, the
 * instance's origin in download links and the links' expiry and signature).
 *
 * Mutations and subscriptions never take the compiled path (fast-executor-guard.ts, tested
 * below), so both instances run them in graphql-js: they are not compared here.
 */

const schema = buildSchema();
const OPERATIONS_DIR = new URL("../client/operations/", import.meta.url);

/** Every definition of client/operations, the fragments by name. */
const definitions: DefinitionNode[] = readdirSync(OPERATIONS_DIR)
  .filter((file) => file.endsWith(".graphql"))
  .sort()
  .flatMap((file) => parse(readFileSync(new URL(file, OPERATIONS_DIR), "utf8")).definitions);
const fragments = new Map(
  definitions.filter((node): node is FragmentDefinitionNode => node.kind === Kind.FRAGMENT_DEFINITION).map((node) => [node.name.value, node]),
);
const queries = definitions.filter((node): node is OperationDefinitionNode => node.kind === Kind.OPERATION_DEFINITION && node.operation === "query");

/** One operation with the fragments it spreads (transitively), as a client sends it. */
function documentOf(operation: OperationDefinitionNode): string {
  const needed = new Set<string>();
  const collect = (node: OperationDefinitionNode | FragmentDefinitionNode) =>
    visit(node, {
      FragmentSpread(spread) {
        if (needed.has(spread.name.value)) return;
        needed.add(spread.name.value);
        collect(fragments.get(spread.name.value)!);
      },
    });
  collect(operation);
  return [operation, ...[...needed].sort().map((name) => fragments.get(name)!)].map((node) => print(node)).join("\n\n");
}

const ROLES = ["anonymous", "stranger", "viewer", "editor", "owner", "admin", "token"] as const;
type Role = (typeof ROLES)[number];

let dataDir: string;
let plain: TestServer;
let compiled: TestServer;
const people = {} as Record<Exclude<Role, "anonymous" | "token">, TestUser>;
let tokenSecret: string;
let datasetId: string;
let publicId: string;
/** A dataset whose version 1 has 25 files: a list past the cost analysis's assumed 20, charged as it resolves. */
let manyFilesId: string;

const tokenOf = (role: Role) => (role === "anonymous" ? undefined : role === "token" ? tokenSecret : people[role].token);

/** A value for each variable name the operations use. */
function variablesFor(operation: OperationDefinitionNode): Record<string, unknown> {
  const values: Record<string, unknown> = {
    id: datasetId,
    datasetId,
    first: 5,
    number: 1,
    version: 2,
    base: 1,
    head: 2,
    search: people.owner.username.slice(0, 6),
  };
  return Object.fromEntries(
    (operation.variableDefinitions ?? []).flatMap((definition) => {
      const name = definition.variable.name.value;
      return name in values ? [[name, values[name]]] : [];
    }),
  );
}

/** The response as sent, and its text with what differs by instance set aside. */
const ask = (server: TestServer, query: string, operationName: string, variables: Record<string, unknown>, role: Role) =>
  askWith(server, query, operationName, variables, tokenOf(role));

async function askWith(server: TestServer, query: string, operationName: string, variables: Record<string, unknown>, token: string | undefined) {
  const response = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, operationName, variables }),
  });
  const text = (await response.text())
    .replaceAll(server.origin, "ORIGIN")
    .replace(/"requestId":"[^"]*"/g, '"requestId":"…"')
    .replace(/expires=\d+/g, "expires=…")
    .replace(/signature=[\w-]+/g, "signature=…");
  return { status: response.status, text };
}

describe("the compiled executor answers as graphql-js does", () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "dataset-api-differential-"));
    plain = await startServer({ DATA_DIR: dataDir, GRAPHQL_EXECUTOR: "graphql-js" });
    compiled = await startServer({ DATA_DIR: dataDir, GRAPHQL_EXECUTOR: "jit", JWT_SECRET: plain.secret }, undefined, plain);
    for (const role of ["stranger", "viewer", "editor", "owner"] as const) people[role] = await createUser(plain);
    people.admin = await createAdmin(plain);
    const tag = unique("diff")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .slice(0, 32);
    datasetId = (await createDataset(plain, people.owner, { license: "MIT", tags: [tag], readme: "# D" })).id;
    publicId = (await createDataset(plain, people.owner, { visibility: "PUBLIC", tags: [tag] })).id;
    const share = `mutation($d: ID!, $u: String!, $r: DatasetRole!) { shareDataset(datasetId: $d, username: $u, role: $r) { role } }`;
    for (const [person, role] of [
      ["viewer", "VIEWER"],
      ["editor", "EDITOR"],
    ] as const) {
      const shared = await plain.graphql(share, { d: datasetId, u: people[person].username, r: role }, { token: people.owner.token });
      expect(shared.errors).toBeUndefined();
    }
    await commitFiles(plain, people.owner.token, datasetId, { "table.csv": Buffer.from("a,b\n1,2\n3,4\n") });
    await commitFiles(
      plain,
      people.owner.token,
      datasetId,
      { "table.csv": Buffer.from("a,b,c\n1,2,x\n5,6,y\n"), "notes.txt": Buffer.from("notes\n") },
      1,
    );
    await settledPreviews(plain, people.owner.token, datasetId);
    tokenSecret = (await createToken(plain, people.owner, { scope: "READ" })).secret;
    manyFilesId = (await createDataset(plain, people.owner)).id;
    await seedVersion(plain, manyFilesId, sha256("notes\n"), 25);
  });

  afterAll(async () => {
    await compiled?.close();
    await plain?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("has query operations to compare, and the public dataset is in the catalog", () => {
    expect(queries.length).toBeGreaterThan(10);
    expect(publicId).toBeTruthy();
  });

  for (const operation of queries) {
    const name = operation.name!.value;
    it(`${name}: the same response, byte for byte, for every role`, async () => {
      const query = documentOf(operation);
      const refused = jitRefusal(schema, parse(query), operation);
      for (const role of ROLES) {
        const variables = variablesFor(operation);
        const expected = await ask(plain, query, name, variables, role);
        // The first request of a document runs in graphql-js; the second compiles it.
        await ask(compiled, query, name, variables, role);
        const before = { ...executorCounts };
        const actual = await ask(compiled, query, name, variables, role);
        const ranCompiled = executorCounts.compiled - before.compiled;
        expect(ranCompiled, `${name} as ${role}: ${refused ?? "should run compiled"}`).toBe(refused ? 0 : 1);
        expect(actual.status, `${name} as ${role}`).toBe(expected.status);
        expect(actual.text, `${name} as ${role}`).toBe(expected.text);
      }
    });
  }

  it("a list without `first` past 20 items is charged alike (the cost analysis's field nodes reach the resolver)", async () => {
    const query = "query Files($id: ID!) { dataset(id: $id) { version(number: 1) { files { path preview { status } } } } }";
    for (const role of ROLES) {
      const expected = await ask(plain, query, "Files", { id: manyFilesId }, role);
      await ask(compiled, query, "Files", { id: manyFilesId }, role);
      const actual = await ask(compiled, query, "Files", { id: manyFilesId }, role);
      expect(actual, role).toEqual(expected);
      // The owner's answer lists the 25 files, and its cost counts the 5 past 20 at 2 each (a file and its preview).
      if (role === "owner") expect(JSON.parse(actual.text).data.dataset.version.files).toHaveLength(25);
    }
  });

  it("a variable that does not coerce gets graphql-js's own error, on a compiled document", async () => {
    const query = "query Sized($first: Int) { datasets(first: $first) { totalCount } }";
    for (const first of [5, 5]) await ask(compiled, query, "Sized", { first }, "owner");
    const expected = await ask(plain, query, "Sized", { first: "many" }, "owner");
    const actual = await ask(compiled, query, "Sized", { first: "many" }, "owner");
    expect(actual).toEqual(expected);
  });

  it("errors inside lists and nulls propagated answer alike (an admin-only field as a user, a missing dataset)", async () => {
    const documents = [
      "{ me { id } adminDatasets(first: 2) { totalCount } }",
      `{ a: dataset(id: "${datasetId}") { id name } b: dataset(id: "00000000-0000-0000-0000-000000000000") { id } }`,
      '{ dataset(id: "not an id") { id } }',
      "{ datasets(first: 500) { totalCount } }",
    ];
    for (const query of documents) {
      for (const role of ROLES) {
        const expected = await ask(plain, query, "", {}, role);
        await ask(compiled, query, "", {}, role);
        const actual = await ask(compiled, query, "", {}, role);
        expect(actual, `${query} as ${role}`).toEqual(expected);
      }
    }
  });
});

describe("a database that fails under a resolver, or a bug, answers alike on both paths", () => {
  let database: TestDatabase;
  /** What the next list statement throws; none: it runs. */
  let fault: Error | undefined;
  let plainServer: TestServer;
  let compiledServer: TestServer;
  let owner: TestUser;

  beforeAll(async () => {
    database = await createTestDatabase();
    // The database as both servers see it, but its list statements (rows as arrays) throw `fault` while it is set.
    const faulty: Database = Object.create(database.database);
    faulty.queryArrays = (text, params) => (fault ? Promise.reject(fault) : database.database.queryArrays(text, params));
    plainServer = await startServer({ GRAPHQL_EXECUTOR: "graphql-js" }, undefined, { database: faulty, databaseUrl: database.url });
    compiledServer = await startServer({ GRAPHQL_EXECUTOR: "jit", JWT_SECRET: plainServer.secret }, undefined, {
      database: faulty,
      databaseUrl: database.url,
    });
    owner = await createUser(plainServer);
    await createDataset(plainServer, owner);
  });

  afterAll(async () => {
    await compiledServer?.close();
    await plainServer?.close();
    await database?.drop();
  });

  // graphql-jit's own errors had no `extensions` when the error they wrap has none, and Apollo's
  // formatting then answered a bare "Internal server error", status 200, with no path.
  for (const [what, error, status, code] of [
    ["unavailable", new DatabaseUnavailableError(new Error("connect ECONNREFUSED 127.0.0.1:5432")), 503, "SERVICE_UNAVAILABLE"],
    ["a bug", new TypeError("Cannot read properties of undefined (reading 'id')"), 200, "INTERNAL_SERVER_ERROR"],
  ] as const) {
    it(`the database ${what === "a bug" ? "works, but the code has a bug" : "is unavailable"}: status ${status}, ${code} at the field's path`, async () => {
      const query = "query Mine { datasets(first: 5) { nodes { id name } } }";
      const asOwner = (server: TestServer) => askWith(server, query, "Mine", {}, owner.token);
      // Compiled from its second request on: the first two while the database works.
      for (const server of [plainServer, compiledServer, compiledServer]) expect((await asOwner(server)).status).toBe(200);
      fault = error;
      try {
        const expected = await asOwner(plainServer);
        const before = executorCounts.compiled;
        const actual = await asOwner(compiledServer);
        expect(executorCounts.compiled - before).toBe(1);
        expect(actual).toEqual(expected);
        expect(actual.status).toBe(status);
        const { errors } = JSON.parse(actual.text);
        expect(errors).toEqual([expect.objectContaining({ path: ["datasets"], extensions: expect.objectContaining({ code }) })]);
      } finally {
        fault = undefined;
      }
    });
  }
});

describe("which documents stay in graphql-js", () => {
  const refusal = (text: string) => {
    const document = parse(text);
    return jitRefusal(schema, document, document.definitions.find((node) => node.kind === Kind.OPERATION_DEFINITION)!);
  };

  it("a variable inside an input literal, a variable with a default, introspection, a mutation", () => {
    expect(refusal("query($s: String) { datasets(filter: { search: $s }) { totalCount } }")).toMatch(/input literal/);
    expect(refusal('query($s: String) { users(search: "x") { nodes { id } } datasets(filter: { access: [$s] }) { totalCount } }')).toMatch(
      /input literal/,
    );
    expect(refusal("query($n: Int = 5) { datasets(first: $n) { totalCount } }")).toMatch(/default value/);
    expect(refusal("{ __schema { queryType { name } } }")).toBe("introspection");
    // graphql-jit would spend tens of seconds of the event loop compiling its coercion.
    expect(
      refusal("query($id: ID!, $where: RowFilter) { dataset(id: $id) { latestVersion { files { table { rows(where: $where) { totalCount } } } } } }"),
    ).toMatch(/recursive input type \(RowFilter\)/);
    expect(refusal('mutation { createDataset(input: { name: "x" }) { id } }')).toBe("a mutation");
  });

  it("plain queries, variables as whole arguments, literals without variables: compiled", () => {
    expect(refusal("query($n: Int, $after: String) { datasets(first: $n, after: $after) { totalCount } }")).toBeUndefined();
    expect(refusal('{ datasets(filter: { search: "weather" }) { totalCount } }')).toBeUndefined();
    expect(refusal("query($f: DatasetFilter) { datasets(filter: $f) { totalCount } }")).toBeUndefined();
  });
});
