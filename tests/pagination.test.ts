import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { errorCode, type GraphQLResponse, startServer, type TestServer } from "./support/server.js";

const PAGE = `
  query Page($first: Int, $after: String, $orderBy: DatasetOrder) {
    datasets(first: $first, after: $after, orderBy: $orderBy) {
      totalCount
      edges { cursor node { id name createdAt } }
      nodes { id }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;

interface Node {
  id: string;
  name: string;
  createdAt: string;
}

/** Walks every page of `orderBy` in pages of `first`; returns the pages' nodes. */
async function walk(server: TestServer, user: TestUser, orderBy: string, first: number): Promise<Node[][]> {
  const pages: Node[][] = [];
  let after: string | null = null;
  for (let guard = 0; guard < 50; guard += 1) {
    const response: GraphQLResponse = await server.graphql(PAGE, { first, after, orderBy }, { token: user.token });
    expect(response.errors).toBeUndefined();
    const connection: any = response.data.datasets;
    const nodes = connection.edges.map((edge: { node: Node }) => edge.node);
    expect(connection.nodes.map((node: Node) => node.id)).toEqual(nodes.map((node: Node) => node.id));
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
function sortedLike(nodes: Node[], orderBy: string): Node[] {
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

  it.each(["CREATED_AT_DESC", "CREATED_AT_ASC", "NAME_ASC", "NAME_DESC"])(
    "walks 45 datasets in pages of 20, 20 and 5 with no gap or repeat (%s)",
    async (orderBy) => {
      const pages = await walk(server, user, orderBy, 20);
      expect(pages.map((page) => page.length)).toEqual([20, 20, 5]);
      const seen = pages.flat();
      expect(new Set(seen.map((node) => node.id)).size).toBe(45);
      expect(seen.map((node) => node.id)).toEqual(sortedLike(made, orderBy).map((node) => node.id));
    },
  );

  it("reports totalCount of all pages on every page", async () => {
    const response = await server.graphql(PAGE, { first: 5 }, { token: user.token });
    expect(response.data.datasets.totalCount).toBe(45);
  });

  it("uses first = 20 when it is not given", async () => {
    const response = await server.graphql(`{ datasets { nodes { id } } }`, {}, { token: user.token });
    expect(response.data.datasets.nodes).toHaveLength(20);
  });

  it("continues after a cursor with no gap when rows are inserted and deleted between pages", async () => {
    const other = await createUser(server);
    const own: Node[] = [];
    for (let index = 0; index < 6; index += 1) own.push(await createDataset(server, other));
    const first = await server.graphql(PAGE, { first: 3 }, { token: other.token });
    const firstIds = first.data.datasets.nodes.map((node: Node) => node.id);
    // A newer dataset lands before the cursor; a deleted one on the first page is behind it.
    await createDataset(server, other);
    await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: firstIds[0] }, { token: other.token });
    const second = await server.graphql(PAGE, { first: 10, after: first.data.datasets.pageInfo.endCursor }, { token: other.token });
    const expected = sortedLike(own, "CREATED_AT_DESC")
      .map((node) => node.id)
      .slice(3);
    expect(second.data.datasets.nodes.map((node: Node) => node.id)).toEqual(expected);
  });

  it("refuses a cursor issued for another ordering", async () => {
    const byName = await server.graphql(PAGE, { first: 2, orderBy: "NAME_ASC" }, { token: user.token });
    const cursor = byName.data.datasets.pageInfo.endCursor;
    const response = await server.graphql(PAGE, { first: 2, after: cursor, orderBy: "CREATED_AT_DESC" }, { token: user.token });
    expect(errorCode(response)).toBe("BAD_USER_INPUT");
    expect(response.errors![0]!.extensions.field).toBe("after");
  });

  it("returns an empty page, not an error, after the last dataset", async () => {
    const pages = await walk(server, user, "CREATED_AT_DESC", 45);
    const last = pages.at(-1)!.at(-1)!;
    const all = await server.graphql(PAGE, { first: 45 }, { token: user.token });
    const response = await server.graphql(PAGE, { first: 5, after: all.data.datasets.pageInfo.endCursor }, { token: user.token });
    expect(last.id).toBe(all.data.datasets.nodes.at(-1).id);
    expect(response.data.datasets.edges).toEqual([]);
    expect(response.data.datasets.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null });
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

  const ADMIN_PAGE = `
    query($first: Int, $after: String, $orderBy: DatasetOrder, $filter: AdminDatasetFilter) {
      adminDatasets(first: $first, after: $after, orderBy: $orderBy, filter: $filter) {
        totalCount
        nodes { id name createdAt owner { id } }
        pageInfo { hasNextPage endCursor }
      }
    }`;

  async function walkAdmin(orderBy: string, filter: Record<string, string>): Promise<{ ids: string[]; totalCount: number }> {
    const ids: string[] = [];
    let after: string | null = null;
    let totalCount = -1;
    for (let guard = 0; guard < 20; guard += 1) {
      const response: GraphQLResponse = await server.graphql(ADMIN_PAGE, { first: 5, after, orderBy, filter }, { token: admin.token });
      expect(response.errors).toBeUndefined();
      const connection: any = response.data.adminDatasets;
      totalCount = connection.totalCount;
      ids.push(...connection.nodes.map((node: Node) => node.id));
      if (!connection.pageInfo.hasNextPage) return { ids, totalCount };
      after = connection.pageInfo.endCursor;
    }
    throw new Error("pagination did not end");
  }

  it.each(["CREATED_AT_DESC", "CREATED_AT_ASC", "NAME_ASC", "NAME_DESC"])("pages one owner's datasets in order %s", async (orderBy) => {
    const owner = owners[1]!;
    const { ids, totalCount } = await walkAdmin(orderBy, { ownerId: owner.id });
    const expected = sortedLike(
      made.filter((dataset) => dataset.owner === owner.id),
      orderBy,
    ).map((dataset) => dataset.id);
    expect(ids).toEqual(expected);
    expect(totalCount).toBe(8);
  });

  it.each(["CREATED_AT_DESC", "NAME_ASC"])("pages a case-insensitive search over name and description across owners (%s)", async (orderBy) => {
    const { ids, totalCount } = await walkAdmin(orderBy, { search: "oZoNe" });
    const matching = made.filter((dataset) => /ozone/i.test(dataset.name) || /ozone/i.test(dataset.description));
    expect(matching.length).toBe(6);
    expect(ids).toEqual(sortedLike(matching, orderBy).map((dataset) => dataset.id));
    expect(totalCount).toBe(6);
  });

  it("combines ownerId and search", async () => {
    const owner = owners[0]!;
    const { ids } = await walkAdmin("CREATED_AT_DESC", { ownerId: owner.id, search: "ozone" });
    const expected = made.filter((dataset) => dataset.owner === owner.id && (/ozone/i.test(dataset.name) || /ozone/i.test(dataset.description)));
    expect(ids).toEqual(sortedLike(expected, "CREATED_AT_DESC").map((dataset) => dataset.id));
    expect(ids.length).toBeGreaterThan(0);
  });
});
