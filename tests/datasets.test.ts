import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateDatasetDocument,
  DatasetDocument,
  DatasetsDocument,
  DeleteDatasetDocument,
  UpdateDatasetDocument,
} from "../client/generated/graphql.js";
import { createDataset, createUser, unique, type TestUser } from "./support/factories.js";
import { errorCode, startServer, type GraphQLResponse, type TestServer } from "./support/server.js";

/** Creating, reading, changing and deleting datasets, and searching them. */
describe("datasets", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  // The client's own operations (client/operations/datasets.graphql): the contract as a frontend uses it.
  const CREATE = CreateDatasetDocument;
  const UPDATE = UpdateDatasetDocument;
  const DELETE = DeleteDatasetDocument;

  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

  function expectOk<Data>(response: GraphQLResponse<Data>): Data {
    expect(response.errors).toBeUndefined();
    expect(response.data).toBeTruthy();
    return response.data!;
  }

  const read = (user: TestUser, id: string) => server.graphql(DatasetDocument, { id }, { token: user.token });

  /** The dataset's own fields as its owner reads them back (`owner` left out). */
  async function readBack(user: TestUser, id: string) {
    const { owner: _owner, ...fields } = expectOk(await read(user, id)).dataset;
    return fields;
  }

  async function list(user: TestUser, search?: string) {
    const { datasets } = expectOk(await server.graphql(DatasetsDocument, { first: 100, filter: { search } }, { token: user.token }));
    return { totalCount: datasets.totalCount, nodes: datasets.edges.map((edge) => edge.node) };
  }

  async function searchNames(user: TestUser, search: string): Promise<string[]> {
    const { nodes, totalCount } = await list(user, search);
    expect(totalCount).toBe(nodes.length);
    return nodes.map((node) => node.name).sort();
  }

  describe("create", () => {
    it("returns every field, with createdAt equal to updatedAt", async () => {
      const user = await createUser(server);
      const input = { name: unique("climate"), description: "Daily readings", filePath: "/data/climate.csv" };
      const before = Date.now();
      const created = expectOk(await server.graphql(CREATE, { input }, { token: user.token })).createDataset;
      expect(created).toMatchObject(input);
      expect(created.id).toMatch(UUID);
      expect(created.createdAt).toMatch(ISO);
      expect(created.updatedAt).toBe(created.createdAt);
      expect(new Date(created.createdAt).toISOString()).toBe(created.createdAt);
      expect(Math.abs(Date.parse(created.createdAt) - before)).toBeLessThan(60_000);
      const { owner, ...fields } = expectOk(await read(user, created.id)).dataset;
      expect(fields).toEqual(created);
      expect(owner).toEqual({ __typename: "User", id: user.id, username: user.username });
    });

    it("stores left-out description and filePath as null", async () => {
      const user = await createUser(server);
      const created = expectOk(await server.graphql(CREATE, { input: { name: "only a name" } }, { token: user.token }));
      expect(created.createDataset).toMatchObject({ name: "only a name", description: null, filePath: null });
    });
  });

  describe("update", () => {
    it.each<[string, { name?: string; description?: string | null; filePath?: string | null }]>([
      ["the name", { name: "renamed" }],
      ["the description", { description: "new words" }],
      ["the filePath", { filePath: "/data/moved.csv" }],
      ["filePath to null", { filePath: null }],
      ["description to null", { description: null }],
      ["all three at once", { name: "all new", description: "all new words", filePath: "/new.csv" }],
    ])("changes only %s and moves updatedAt forward", async (_name, input) => {
      const user = await createUser(server);
      const dataset = await createDataset(server, user);
      await sleep(15);
      const updated = expectOk(await server.graphql(UPDATE, { id: dataset.id, input }, { token: user.token })).updateDataset;
      expect(updated).toEqual({ ...dataset, ...input, updatedAt: updated.updatedAt });
      expect(updated.updatedAt).toMatch(ISO);
      expect(Date.parse(updated.updatedAt)).toBeGreaterThan(Date.parse(dataset.updatedAt));
      expect(await readBack(user, dataset.id)).toEqual(updated);
    });

    it("is NOT_FOUND for another user's dataset, which stays as it was", async () => {
      const owner = await createUser(server);
      const other = await createUser(server);
      const dataset = await createDataset(server, owner);
      const response = await server.graphql(UPDATE, { id: dataset.id, input: { name: "taken over" } }, { token: other.token });
      expect(errorCode(response)).toBe("NOT_FOUND");
      expect(await readBack(owner, dataset.id)).toEqual(dataset);
    });
  });

  describe("delete", () => {
    it("returns the id, after which the dataset is NOT_FOUND everywhere", async () => {
      const user = await createUser(server);
      const dataset = await createDataset(server, user);
      const kept = await createDataset(server, user);
      expect(expectOk(await server.graphql(DELETE, { id: dataset.id }, { token: user.token }))).toEqual({
        __typename: "Mutation",
        deleteDataset: dataset.id,
      });
      expect(errorCode(await read(user, dataset.id))).toBe("NOT_FOUND");
      expect(errorCode(await server.graphql(DELETE, { id: dataset.id }, { token: user.token }))).toBe("NOT_FOUND");
      const update = await server.graphql(UPDATE, { id: dataset.id, input: { name: "ghost" } }, { token: user.token });
      expect(errorCode(update)).toBe("NOT_FOUND");
      const remaining = await list(user);
      expect(remaining.nodes.map((node) => node.id)).toEqual([kept.id]);
      expect(remaining.totalCount).toBe(1);
    });

    it("returns the id in its canonical lower-case form", async () => {
      const user = await createUser(server);
      const dataset = await createDataset(server, user);
      const response = await server.graphql(DELETE, { id: dataset.id.toUpperCase() }, { token: user.token });
      expect(expectOk(response)).toEqual({ __typename: "Mutation", deleteDataset: dataset.id });
    });

    it("is NOT_FOUND for another user's dataset, which is kept", async () => {
      const owner = await createUser(server);
      const other = await createUser(server);
      const dataset = await createDataset(server, owner);
      expect(errorCode(await server.graphql(DELETE, { id: dataset.id }, { token: other.token }))).toBe("NOT_FOUND");
      expect(await readBack(owner, dataset.id)).toEqual(dataset);
    });
  });

  describe("text is stored verbatim", () => {
    const AWKWARD = [
      "'; DROP TABLE datasets; --",
      '" OR 1=1 --',
      "\\'",
      "%_\\",
      "$1",
      "' OR ''='",
      "Robert'); DELETE FROM users; --",
      "📊 données — 数据 👩‍🔬",
      "e\u0301",
      // (A bidirectional control such as U+202E is refused in a name or path: input-rules.test.ts.)
      "שלום עולם",
      "zero\u200Bwidth\uFEFFjoiner\u200D",
      "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🏳️‍🌈",
    ];
    it.each(AWKWARD)("reads back %j in name, description and filePath", async (text) => {
      const user = await createUser(server);
      const input = { name: text, description: `${text}\n${text}`, filePath: `/data/${text}` };
      const created = expectOk(await server.graphql(CREATE, { input }, { token: user.token })).createDataset;
      expect(created).toMatchObject(input);
      expect(await readBack(user, created.id)).toMatchObject(input);
      const all = await list(user);
      expect(all.nodes).toEqual([expect.objectContaining({ id: created.id, ...input })]);
      const found = await list(user, text);
      expect(found.nodes.map((node) => node.id)).toEqual([created.id]);
      // The table is still there and still takes rows.
      await createDataset(server, user);
      expect((await list(user)).totalCount).toBe(2);
    });

    it("stores updates verbatim too", async () => {
      const user = await createUser(server);
      const dataset = await createDataset(server, user);
      const input = { name: AWKWARD[0], description: AWKWARD[7], filePath: AWKWARD[3] };
      expect(expectOk(await server.graphql(UPDATE, { id: dataset.id, input }, { token: user.token })).updateDataset).toMatchObject(input);
      expect(await readBack(user, dataset.id)).toMatchObject(input);
    });

    it.each(["bad\u0000name", "\u0000", "trailing\u0000"])("refuses a NUL in name %j with BAD_USER_INPUT, writing nothing", async (name) => {
      const user = await createUser(server);
      await createDataset(server, user);
      const response = await server.graphql(CREATE, { input: { name } }, { token: user.token });
      expect(response.status).toBeLessThan(500);
      expect(response.errors?.map((error) => [error.extensions.code, error.extensions.field])).toEqual([["BAD_USER_INPUT", "input.name"]]);
      expect(response.data).toBeNull();
      expect((await list(user)).totalCount).toBe(1);
    });
  });

  describe("search", () => {
    it("matches name or description, ignoring case", async () => {
      const user = await createUser(server);
      await createDataset(server, user, { name: "Climate Records", description: "temperatures" });
      await createDataset(server, user, { name: "Ships", description: "Contains OCEAN routes" });
      await createDataset(server, user, { name: "Données Brutes", description: null });
      await createDataset(server, user, { name: "Unrelated", description: "nothing here" });
      expect(await searchNames(user, "cLiMaTe")).toEqual(["Climate Records"]);
      expect(await searchNames(user, "ocean")).toEqual(["Ships"]);
      expect(await searchNames(user, "RECORDS")).toEqual(["Climate Records"]);
      expect(await searchNames(user, "DONNÉES")).toEqual(["Données Brutes"]);
      expect(await searchNames(user, "e")).toEqual(["Climate Records", "Données Brutes", "Ships", "Unrelated"]);
      expect(await searchNames(user, "no such thing")).toEqual([]);
      expect(await searchNames(user, "")).toHaveLength(4);
    });

    it("treats % and _ and \\ literally", async () => {
      const user = await createUser(server);
      const names = ["100%_done", "100 percent done", "a big b", "ab", "axb", "a_b", "back\\slash", "plain"];
      for (const name of names) await createDataset(server, user, { name, description: null });
      expect(await searchNames(user, "%_")).toEqual(["100%_done"]);
      expect(await searchNames(user, "%")).toEqual(["100%_done"]);
      expect(await searchNames(user, "_")).toEqual(["100%_done", "a_b"]);
      expect(await searchNames(user, "a%b")).toEqual([]);
      expect(await searchNames(user, "a_b")).toEqual(["a_b"]);
      expect(await searchNames(user, "100%")).toEqual(["100%_done"]);
      expect(await searchNames(user, "\\")).toEqual(["back\\slash"]);
      expect(await searchNames(user, "\\s")).toEqual(["back\\slash"]);
      expect(await searchNames(user, "%%")).toEqual([]);
    });

    it("sees only the caller's own datasets", async () => {
      const user = await createUser(server);
      const other = await createUser(server);
      const word = unique("shared");
      const mine = await createDataset(server, user, { name: `${word} mine` });
      await createDataset(server, other, { name: `${word} theirs` });
      const found = await list(user, word);
      expect(found.nodes.map((node) => node.id)).toEqual([mine.id]);
      expect(found.totalCount).toBe(1);
    });
  });
});
