import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINE } from "./support/database.js";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * What one request may take of the database: at most MAX_STATEMENTS statements, and on
 * PostgreSQL none longer than DATABASE_STATEMENT_TIMEOUT. Over either, the client gets
 * REQUEST_TOO_EXPENSIVE (never a 500 or a 503), and nothing more is written.
 */
describe("the statement budget of a request", () => {
  let server: TestServer;
  let user: TestUser;
  beforeAll(async () => {
    // The viewer check costs no statement once the cache holds the session.
    server = await startServer({ MAX_STATEMENTS: "6" });
    user = await createUser(server);
    await server.graphql(`{ me { id } }`, {}, { token: user.token });
  });
  afterAll(() => server.close());

  it("refuses the statement past the budget, saying why, and runs no more", async () => {
    const dataset = await createDataset(server, user);
    const aliases = Array.from({ length: 10 }, (_, index) => `a${index}: dataset(id: $id) { id }`).join("\n");
    const response = await server.graphql(`query($id: ID!) { ${aliases} }`, { id: dataset.id }, { token: user.token });
    expect(response.status).toBe(200);
    expect(response.statements).toBe(6);
    // `dataset` is non-null, so the refusal nulls the whole answer.
    expect(response.data).toBeNull();
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0]!.extensions).toMatchObject({ code: "REQUEST_TOO_EXPENSIVE", limit: "statements", maxStatements: 6 });
    expect(response.errors![0]!.message).toBe("This request needs more than 6 database statements: split it into smaller requests");
  });

  it("writes nothing past the budget: the mutations after it do not run", async () => {
    const owner = await createUser(server);
    await server.graphql(`{ me { id } }`, {}, { token: owner.token });
    const creates = Array.from({ length: 8 }, (_, index) => `c${index}: createDataset(input: { name: "d${index}" }) { id }`).join("\n");
    const response = await server.graphql(`mutation { ${creates} }`, {}, { token: owner.token });
    expect(response.statements).toBe(6);
    expect(response.errors!.map((error) => error.extensions.code)).toEqual(["REQUEST_TOO_EXPENSIVE"]);
    const listed = await server.graphql(`{ datasets(first: 100) { totalCount nodes { name } } }`, {}, { token: owner.token });
    const written = listed.data.datasets.totalCount;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(8);
    // Mutations run in order: the first ones, and nothing of the refused one or after it.
    expect(listed.data.datasets.nodes.map((node: { name: string }) => node.name).sort()).toEqual(
      Array.from({ length: written }, (_, index) => `d${index}`),
    );
  });

  it("gives each request its own budget", async () => {
    for (let round = 0; round < 3; round += 1) {
      const response = await server.graphql(`{ datasets(first: 1) { totalCount } }`, {}, { token: user.token });
      expect(response.errors).toBeUndefined();
    }
  });
});

describe.runIf(ENGINE === "postgres")("the statement timeout (PostgreSQL)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ DATABASE_STATEMENT_TIMEOUT: "1" });
  });
  afterAll(() => server.close());

  it("stops a statement that runs past it, answers REQUEST_TOO_EXPENSIVE, and keeps serving", async () => {
    const user = await createUser(server);
    const dataset = await createDataset(server, user, { name: "before" });
    // Another connection holds the row, so the update waits for it past the timeout.
    const response = await server.database.transaction(async (tx) => {
      await tx.query("select id from datasets where id = $1 for update", [dataset.id]);
      return server.graphql(
        `mutation($id: ID!) { updateDataset(id: $id, input: { name: "after" }) { name } }`,
        { id: dataset.id },
        { token: user.token },
      );
    });
    expect(response.status).toBe(200);
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0]!.extensions).toMatchObject({ code: "REQUEST_TOO_EXPENSIVE", limit: "statementTimeout" });
    expect(response.errors![0]!.message).not.toMatch(/cancel|statement_timeout|57014/i);
    const read = await server.graphql(`query($id: ID!) { dataset(id: $id) { name } }`, { id: dataset.id }, { token: user.token });
    expect(read.errors).toBeUndefined();
    expect(read.data.dataset.name).toBe("before");
  });
});
