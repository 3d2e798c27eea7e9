import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AdminDatasetsDocument,
  type AdminDatasetsQuery,
  type DatasetOrder,
  DatasetsDocument,
  type DatasetsQuery,
  DeleteDatasetDocument,
} from "../client/generated/graphql.js";
import { createAdmin, createDataset, createUser, type TestDataset, type TestUser } from "./support/factories.js";
import { errorCode, type GraphQLResponse, startServer, type TestServer } from "./support/server.js";

/** Through the client's own list operations (client/operations/datasets.graphql). */

type Node = Pick<TestDataset, "id" | "name" | "createdAt">;

/** The page's data; fails the test on an error. */
function page<Data>(response: GraphQLResponse<Data>): Data {
  expect(response.errors).toBeUndefined();
  return response.data!;
}

const ORDERS: DatasetOrder[] = ["CREATED_AT_DESC", "CREATED_AT_ASC", "NAME_ASC", "NAME_DESC"];

/** Walks every page of `orderBy` in pages of `first`; returns the pages' nodes. */
async function walk(server: TestServer, user: TestUser, orderBy: DatasetOrder, first: number): Promise<Node[][]> {
  const pages: Node[][] = [];
  let after: string | null = null;
  for (let guard = 0; guard < 50; guard += 1) {
    const connection: DatasetsQuery["datasets"] = page(
      await server.graphql(DatasetsDocument, { first, after, orderBy }, { token: user.token }),
    ).datasets;
    const nodes = connection.edges.map((edge) => edge.node);
    expect(connection.pageInfo.hasPreviousPage).toBe(after !== null);
    expect(connection.pageInfo.startCursor).toBe(connection.edges[0]?.cursor ?? null);
    expect(connection.pageInfo.endCursor).toBe(connection.edges.at(-1)?.cursor ?? null);
    pages.push(nodes);
    if (!connection.pageInfo.hasNextPage) return pages;
    after = connection.pageInfo.endCursor;
  }
  throw new Error("pagination did not end");
}

/** The order the API promises: the key, then id as the tie-break, both in one direction. */
function sortedLike<N extends Node>(nodes: N[], orderBy: DatasetOrder): N[] {
  const key = (node: Node) => (orderBy.startsWith("NAME") ? node.name.toLowerCase() : node.createdAt);
  const direction = orderBy.endsWith("DESC") ? -1 : 1;
  const byte = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...nodes].sort((a, b) => direction * (byte(key(a), key(b)) || byte(a.id, b.id)));
}

describe("keyset pagination", () => {
  let server: TestServer;
  let user: TestUser;
  const made: Node[] = [];

  beforeAll(async () => {
    server = await startServer();
    user = await createUser(server);
    // 45 datasets created as fast as possible, so many share a millisecond and the id
    // tie-break is what keeps pages apart. Mixed-case names exercise the name orders.
    for (let index = 0; index < 45; index += 1) {
      const name = `${index % 2 ? "Set" : "set"} ${String((index * 7) % 45).padStart(2, "0")}`;
      made.push(await createDataset(server, user, { name }));
    }
  });
  afterAll(() => server.close());

  it.each(ORDERS)("walks 45 datasets in pages of 20, 20 and 5 with no gap or repeat (%s)", async (orderBy) => {
    const pages = await walk(server, user, orderBy, 20);
    expect(pages.map((page) => page.length)).toEqual([20, 20, 5]);
    const seen = pages.flat();
    expect(new Set(seen.map((node) => node.id)).size).toBe(45);
    expect(seen.map((node) => node.id)).toEqual(sortedLike(made, orderBy).map((node) => node.id));
  });

  it("reports totalCount of all pages on every page", async () => {
    expect(page(await server.graphql(DatasetsDocument, { first: 5 }, { token: user.token })).datasets.totalCount).toBe(45);
  });

  it("uses first = 20 when it is not given", async () => {
    expect(page(await server.graphql(DatasetsDocument, {}, { token: user.token })).datasets.edges).toHaveLength(20);
  });

  it("lists in nodes the edges' nodes, in their order", async () => {
    // Raw: the client's operations read edges only; nodes is the contract's shortcut.
    const { datasets } = page(await server.graphql(`{ datasets(first: 7) { edges { node { id } } nodes { id } } }`, {}, { token: user.token }));
    expect(datasets.nodes).toHaveLength(7);
    expect(datasets.nodes).toEqual(datasets.edges.map((edge: { node: { id: string } }) => edge.node));
  });

  it("continues after a cursor with no gap when rows are inserted and deleted between pages", async () => {
    const other = await createUser(server);
    const own: Node[] = [];
    for (let index = 0; index < 6; index += 1) own.push(await createDataset(server, other));
    const first = page(await server.graphql(DatasetsDocument, { first: 3 }, { token: other.token })).datasets;
    const firstIds = first.edges.map((edge) => edge.node.id);
    // A newer dataset lands before the cursor; a deleted one on the first page is behind it.
    await createDataset(server, other);
    page(await server.graphql(DeleteDatasetDocument, { id: firstIds[0]! }, { token: other.token }));
    const second = page(await server.graphql(DatasetsDocument, { first: 10, after: first.pageInfo.endCursor }, { token: other.token })).datasets;
    const expected = sortedLike(own, "CREATED_AT_DESC")
      .map((node) => node.id)
      .slice(3);
    expect(second.edges.map((edge) => edge.node.id)).toEqual(expected);
  });

  it("refuses a cursor issued for another ordering", async () => {
    const cursor = page(await server.graphql(DatasetsDocument, { first: 2, orderBy: "NAME_ASC" }, { token: user.token })).datasets.pageInfo.endCursor;
    const response = await server.graphql(DatasetsDocument, { first: 2, after: cursor, orderBy: "CREATED_AT_DESC" }, { token: user.token });
    expect(errorCode(response)).toBe("BAD_USER_INPUT");
    expect(response.errors![0]!.extensions.field).toBe("after");
  });

  it("returns an empty page, not an error, after the last dataset", async () => {
    const pages = await walk(server, user, "CREATED_AT_DESC", 45);
    const last = pages.at(-1)!.at(-1)!;
    const all = page(await server.graphql(DatasetsDocument, { first: 45 }, { token: user.token })).datasets;
    const after = page(await server.graphql(DatasetsDocument, { first: 5, after: all.pageInfo.endCursor }, { token: user.token })).datasets;
    expect(last.id).toBe(all.edges.at(-1)?.node.id);
    expect(after.edges).toEqual([]);
    expect(after.pageInfo).toEqual({ __typename: "PageInfo", hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null });
  });
});

describe("adminDatasets: filters and orders across owners", () => {
  let server: TestServer;
  let admin: TestUser;
  const owners: TestUser[] = [];
  const made: Array<Node & { owner: string; description: string }> = [];

  beforeAll(async () => {
    server = await startServer();
    admin = await createAdmin(server);
    for (let index = 0; index < 3; index += 1) owners.push(await createUser(server));
    // 24 datasets, owners interleaved; every third mentions "Ozone" (in the name or the description).
    for (let index = 0; index < 24; index += 1) {
      const owner = owners[index % 3]!;
      const ozone = index % 4 === 0;
      const input = {
        name: `${index % 2 ? "Air" : "air"} ${String(index).padStart(2, "0")}${ozone && index % 8 === 0 ? " ozone" : ""}`,
        description: ozone && index % 8 !== 0 ? "OZONE levels" : "plain",
      };
      const dataset = await createDataset(server, owner, input);
      made.push({ ...dataset, owner: owner.id, description: input.description });
    }
  });
  afterAll(() => server.close());

  async function walkAdmin(orderBy: DatasetOrder, filter: { ownerId?: string; search?: string }): Promise<{ ids: string[]; totalCount: number }> {
    const ids: string[] = [];
    let after: string | null = null;
    let totalCount = -1;
    for (let guard = 0; guard < 20; guard += 1) {
      const connection: AdminDatasetsQuery["adminDatasets"] = page(
        await server.graphql(AdminDatasetsDocument, { first: 5, after, orderBy, filter }, { token: admin.token }),
      ).adminDatasets;
      totalCount = connection.totalCount;
      ids.push(...connection.nodes.map((node) => node.id));
      if (!connection.pageInfo.hasNextPage) return { ids, totalCount };
      after = connection.pageInfo.endCursor;
    }
    throw new Error("pagination did not end");
  }

  it.each(ORDERS)("pages one owner's datasets in order %s", async (orderBy) => {
    const owner = owners[1]!;
    const { ids, totalCount } = await walkAdmin(orderBy, { ownerId: owner.id });
    const expected = sortedLike(
      made.filter((dataset) => dataset.owner === owner.id),
      orderBy,
    ).map((dataset) => dataset.id);
    expect(ids).toEqual(expected);
    expect(totalCount).toBe(8);
  });

  it.each<DatasetOrder>(["CREATED_AT_DESC", "NAME_ASC"])(
    "pages a case-insensitive search over name and description across owners (%s)",
    async (orderBy) => {
      const { ids, totalCount } = await walkAdmin(orderBy, { search: "oZoNe" });
      const matching = made.filter((dataset) => /ozone/i.test(dataset.name) || /ozone/i.test(dataset.description));
      expect(matching.length).toBe(6);
      expect(ids).toEqual(sortedLike(matching, orderBy).map((dataset) => dataset.id));
      expect(totalCount).toBe(6);
    },
  );

  it("combines ownerId and search", async () => {
    const owner = owners[0]!;
    const { ids } = await walkAdmin("CREATED_AT_DESC", { ownerId: owner.id, search: "ozone" });
    const expected = made.filter((dataset) => dataset.owner === owner.id && (/ozone/i.test(dataset.name) || /ozone/i.test(dataset.description)));
    expect(ids).toEqual(sortedLike(expected, "CREATED_AT_DESC").map((dataset) => dataset.id));
    expect(ids.length).toBeGreaterThan(0);
  });
});
