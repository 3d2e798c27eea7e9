import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
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
    const second = await server.graphql(
      PAGE,
      { first: 10, after: first.data.datasets.pageInfo.endCursor },
      { token: other.token },
    );
    const expected = sortedLike(own, "CREATED_AT_DESC").map((node) => node.id).slice(3);
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
