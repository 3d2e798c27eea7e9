import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { type GraphQLResponse, startServer, type TestServer, type UntypedData } from "./support/server.js";

/**
 * A list reads what its selection asks for in the page's own statement: `totalCount` (page
 * and count in one statement) and, for lists of other people's datasets, each `owner`.
 * These tests check that the answers are the same as reading each on its own would give:
 * the count on an empty page, with a search, the page order in every order, the owners.
 */

const ORDERS = ["CREATED_AT_DESC", "CREATED_AT_ASC", "NAME_ASC", "NAME_DESC"] as const;

interface Node {
  id: string;
  name: string;
  createdAt: string;
}

/** The order the API promises: the key, then id as the tie-break, both in one direction. */
function sortedLike(nodes: Node[], orderBy: string): Node[] {
  const key = (node: Node) => (orderBy.startsWith("NAME") ? node.name.toLowerCase() : node.createdAt);
  const direction = orderBy.endsWith("DESC") ? -1 : 1;
  const byte = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...nodes].sort((a, b) => direction * (byte(key(a), key(b)) || byte(a.id, b.id)));
}

function ok(response: GraphQLResponse): UntypedData {
  expect(response.errors).toBeUndefined();
  return response.data;
}

describe("lists read totalCount and owners with the page", () => {
  let server: TestServer;
  let admin: TestUser;

  beforeAll(async () => {
    server = await startServer();
    admin = await createAdmin(server);
  });
  afterAll(() => server.close());

  describe("totalCount on an empty page", () => {
    let owner: TestUser;
    const word = unique("empty");

    beforeAll(async () => {
      owner = await createUser(server);
      for (let index = 0; index < 3; index += 1) await createDataset(server, owner, { description: `about ${word}` });
    });

    const OWN = `query($after: String, $search: String, $orderBy: DatasetOrder) {
      datasets(first: 3, after: $after, filter: { search: $search }, orderBy: $orderBy) {
        totalCount nodes { id } edges { cursor }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }`;
    const ADMIN = `query($ownerId: ID, $after: String, $search: String, $orderBy: DatasetOrder) {
      adminDatasets(first: 3, after: $after, filter: { ownerId: $ownerId, search: $search }, orderBy: $orderBy) {
        totalCount nodes { id owner { id } } edges { node { owner { username } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }`;

    it.each(ORDERS)("still counts every match after the last cursor (%s)", async (orderBy) => {
      const full = ok(await server.graphql(OWN, { search: word, orderBy }, { token: owner.token })).datasets;
      expect(full.nodes).toHaveLength(3);
      expect(full.pageInfo.hasNextPage).toBe(false);
      const after = full.pageInfo.endCursor;

      const own = ok(await server.graphql(OWN, { after, search: word, orderBy }, { token: owner.token })).datasets;
      expect(own).toEqual({
        totalCount: 3,
        nodes: [],
        edges: [],
        pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
      });
      const admins = ok(await server.graphql(ADMIN, { ownerId: owner.id, after, orderBy }, { token: admin.token })).adminDatasets;
      expect(admins).toEqual({
        totalCount: 3,
        nodes: [],
        edges: [],
        pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
      });
    });

    it("counts 0 for a search that matches nothing, in every list", async () => {
      const nothing = unique("nothing");
      const empty = {
        totalCount: 0,
        nodes: [],
        edges: [],
        pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
      };
      expect(ok(await server.graphql(OWN, { search: nothing }, { token: owner.token })).datasets).toEqual(empty);
      expect(ok(await server.graphql(ADMIN, { search: nothing }, { token: admin.token })).adminDatasets).toEqual(empty);
      const users = ok(
        await server.graphql(`query($s: String) { users(search: $s) { totalCount nodes { id } } }`, { s: nothing }, { token: admin.token }),
      );
      expect(users.users).toEqual({ totalCount: 0, nodes: [] });
    });

    it("counts the users a search matches after the last cursor of the users list", async () => {
      const USERS = `query($after: String, $s: String) { users(first: 5, after: $after, search: $s) { totalCount nodes { id } pageInfo { endCursor } } }`;
      const first = ok(await server.graphql(USERS, { s: owner.username }, { token: admin.token })).users;
      expect(first.nodes).toEqual([{ id: owner.id }]);
      const after = ok(await server.graphql(USERS, { s: owner.username, after: first.pageInfo.endCursor }, { token: admin.token })).users;
      expect(after).toEqual({ totalCount: 1, nodes: [], pageInfo: { endCursor: null } });
    });
  });

  it("counts the matches of a search across every page, within the list's owners", async () => {
    const word = unique("match");
    // Usernames with the word in them, for the users list's search.
    const alice = await createUser(server, { username: `${word}a` });
    const bob = await createUser(server, { username: `${word}b` });
    for (let index = 0; index < 5; index += 1) await createDataset(server, alice, { name: `${word} ${index}` });
    for (let index = 0; index < 3; index += 1) await createDataset(server, alice, { name: unique("other") });
    for (let index = 0; index < 2; index += 1) await createDataset(server, bob, { description: `also ${word.toUpperCase()}` });

    const OWN = `query($after: String, $s: String) {
      datasets(first: 2, after: $after, filter: { search: $s }) { totalCount nodes { id name } pageInfo { hasNextPage endCursor } }
    }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 10; guard += 1) {
      const page: UntypedData = ok(await server.graphql(OWN, { after, s: word }, { token: alice.token })).datasets;
      expect(page.totalCount).toBe(5);
      for (const node of page.nodes) expect(node.name).toContain(word);
      seen.push(...page.nodes.map((node: { id: string }) => node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(5);
    expect(ok(await server.graphql(OWN, { s: word }, { token: bob.token })).datasets.totalCount).toBe(2);

    const ADMIN = `query($ownerId: ID, $s: String) {
      adminDatasets(first: 1, filter: { ownerId: $ownerId, search: $s }) { totalCount nodes { owner { id } } }
    }`;
    const everyone = ok(await server.graphql(ADMIN, { s: word }, { token: admin.token })).adminDatasets;
    expect(everyone.totalCount).toBe(7);
    expect(everyone.nodes).toHaveLength(1);
    expect(ok(await server.graphql(ADMIN, { ownerId: bob.id, s: word }, { token: admin.token })).adminDatasets).toEqual({
      totalCount: 2,
      nodes: [{ owner: { id: bob.id } }],
    });
    expect(ok(await server.graphql(ADMIN, { ownerId: bob.id }, { token: admin.token })).adminDatasets.totalCount).toBe(2);

    const USERS = `query($s: String) { users(first: 1, search: $s) { totalCount nodes { id } } }`;
    // Newest first: bob.
    expect(ok(await server.graphql(USERS, { s: word }, { token: admin.token })).users).toEqual({ totalCount: 2, nodes: [{ id: bob.id }] });
  });

  describe("page order with totalCount and owners", () => {
    let owner: TestUser;
    const made: Node[] = [];

    beforeAll(async () => {
      owner = await createUser(server);
      // Created as fast as possible, so many share a millisecond (the id breaks the tie);
      // names equal but for case, and with punctuation that sorts differently outside "C".
      const names = ["b", "A c", "ab", "a_b", "a-b", "Zed", "zed", "B2", "b1", "a b", "AB", "Set 2", "set 10", "set 1"];
      for (const name of names) made.push(await createDataset(server, owner, { name }));
    });

    const FIELDS = `nodes { id name createdAt } pageInfo { hasNextPage endCursor }`;
    const VARIANTS = {
      "own, plain page": [`datasets(first: 4, after: $after, orderBy: $orderBy) { ${FIELDS} }`, "datasets"],
      "own, with totalCount": [`datasets(first: 4, after: $after, orderBy: $orderBy) { totalCount ${FIELDS} }`, "datasets"],
      "admin, with owners": [
        `adminDatasets(first: 4, after: $after, orderBy: $orderBy, filter: { ownerId: $ownerId }) { edges { node { owner { id } } } ${FIELDS} }`,
        "adminDatasets",
      ],
      "admin, with totalCount and owners": [
        `adminDatasets(first: 4, after: $after, orderBy: $orderBy, filter: { ownerId: $ownerId }) { totalCount nodes { owner { id } } ${FIELDS} }`,
        "adminDatasets",
      ],
    } as const;

    it.each(ORDERS)("is the promised order in every variant of the statement (%s)", async (orderBy) => {
      const expected = sortedLike(made, orderBy).map((node) => node.id);
      for (const [label, [selection, field]] of Object.entries(VARIANTS)) {
        const token = field === "datasets" ? owner.token : admin.token;
        const query =
          field === "datasets"
            ? `query($after: String, $orderBy: DatasetOrder) { ${selection} }`
            : `query($after: String, $orderBy: DatasetOrder, $ownerId: ID) { ${selection} }`;
        const ids: string[] = [];
        let after: string | null = null;
        for (let guard = 0; guard < 10; guard += 1) {
          const page: UntypedData = ok(await server.graphql(query, { after, orderBy, ownerId: owner.id }, { token }))[field];
          if ("totalCount" in page) expect(page.totalCount, label).toBe(made.length);
          for (const edge of page.edges ?? []) expect(edge.node.owner.id, label).toBe(owner.id);
          for (const node of page.nodes) if (node.owner) expect(node.owner.id, label).toBe(owner.id);
          ids.push(...page.nodes.map((node: Node) => node.id));
          if (!page.pageInfo.hasNextPage) break;
          after = page.pageInfo.endCursor;
        }
        expect(ids, label).toEqual(expected);
      }
    });
  });

  it("gives each dataset its own owner, many owners at once, through fragments, in one statement", async () => {
    const word = unique("owners");
    const owners: TestUser[] = [];
    const ownerOf = new Map<string, TestUser>();
    for (let index = 0; index < 30; index += 1) {
      const user = await createUser(server);
      owners.push(user);
      for (let count = 0; count <= index % 3; count += 1) {
        ownerOf.set((await createDataset(server, user, { name: `${word} ${index}.${count}` })).id, user);
      }
    }
    const QUERY = `
      query($s: String) {
        adminDatasets(first: 100, filter: { search: $s }) { ...Counted edges { cursor node { ...WithOwner } } }
        datasets(first: 100, filter: { search: $s }) { ... on DatasetConnection { totalCount nodes { ...WithOwner } } }
      }
      fragment Counted on DatasetConnection { ... on DatasetConnection { totalCount } nodes { id owner { id username email role } } }
      fragment WithOwner on Dataset { id ... on Dataset { owner { id username role } } }`;
    const response = await server.graphql(QUERY, { s: word }, { token: admin.token });
    const data = ok(response);
    // adminDatasets, and an admin's own datasets list, which covers every owner too.
    for (const connection of [data.adminDatasets, data.datasets]) {
      expect(connection.totalCount).toBe(ownerOf.size);
      expect(connection.nodes).toHaveLength(ownerOf.size);
      for (const node of connection.nodes) {
        const expected = ownerOf.get(node.id)!;
        expect(node.owner).toMatchObject({ id: expected.id, username: expected.username, role: "USER" });
        if ("email" in node.owner) expect(node.owner.email).toBe(expected.email);
      }
    }
    for (const edge of data.adminDatasets.edges) expect(edge.node.owner.id).toBe(ownerOf.get(edge.node.id)!.id);
    expect(new Set(data.adminDatasets.nodes.map((node: { owner: { id: string } }) => node.owner.id)).size).toBe(owners.length);

    // The owners and counts cost no statement beyond the pages themselves.
    const PAGES_ONLY = `query($s: String) { adminDatasets(first: 100, filter: { search: $s }) { nodes { id } } datasets(first: 100, filter: { search: $s }) { nodes { id } } }`;
    const again = await server.graphql(QUERY, { s: word }, { token: admin.token });
    const pagesOnly = await server.graphql(PAGES_ONLY, { s: word }, { token: admin.token });
    expect(again.statements).toBe(pagesOnly.statements);
  });
  it("reads the larger columns a selection shows, through fragments and aliases, and leaves none shown empty", async () => {
    const owner = await createUser(server);
    const card = {
      description: "rain by hour",
      filePath: "/data/rain.csv",
      license: "CC-BY-4.0",
      tags: ["rain", "hourly"],
      readme: "# Rain\nBy hour.",
    };
    const dataset = await createDataset(server, owner, card);
    const FIELDS = "id name description filePath license tags readme visibility createdAt updatedAt";
    const whole = ok(await server.graphql(`query($id: ID!) { dataset(id: $id) { ${FIELDS} } }`, { id: dataset.id }, { token: owner.token })).dataset;
    expect(whole).toMatchObject(card);
    // Each selection names one field of a group, in a way the look-ahead must follow; every
    // field it shows must be the dataset's own, never a null for a column not read. Each
    // is sent twice: the compiled path runs a document from its second request.
    const selections = [
      "nodes { id name }",
      "nodes { id about: description }",
      "edges { node { ...Card } } fragment Card on Dataset { id tags }",
      "nodes { ... on Dataset { id readme } }",
      "nodes { id filePath createdAt updatedAt visibility }",
      "edges { node { id license } } nodes { ...All } fragment All on Dataset { id name description filePath license tags readme visibility createdAt updatedAt }",
    ];
    for (const selection of selections) {
      const [body, fragments = ""] = selection.split(" fragment ");
      const document = `query { datasets(first: 5) { ${body} } } ${fragments ? `fragment ${fragments}` : ""}`;
      for (const _time of [1, 2]) {
        const page = ok(await server.graphql(document, undefined, { token: owner.token })).datasets;
        const nodes = [...(page.nodes ?? []), ...(page.edges ?? []).map((edge: { node: UntypedData }) => edge.node)];
        expect(nodes.length).toBeGreaterThan(0);
        for (const node of nodes) {
          for (const [field, value] of Object.entries(node)) {
            expect(value, `${field} in ${selection}`).toEqual(field === "about" ? whole.description : whole[field]);
          }
        }
      }
    }
  });

  it("reads the owner's account columns only for a selection that shows one, and shows each right", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const OWNER = "id username email role active createdAt updatedAt";
    const single = `query($id: ID!) { dataset(id: $id) { owner { ${OWNER} } } }`;
    const whole = ok(await server.graphql(single, { id: dataset.id }, { token: admin.token })).dataset.owner;
    expect(whole).toMatchObject({ id: owner.id, role: "USER", active: true });
    const selections = [
      "nodes { id owner { id username } }",
      "nodes { id owner { email } }",
      "edges { node { owner { ...Account } } } fragment Account on User { id role }",
      "nodes { owner { ... on User { active createdAt } } }",
      "edges { node { owner { updatedAt } } }",
      `nodes { owner { ${OWNER} } }`,
    ];
    for (const selection of selections) {
      const [body, fragments = ""] = selection.split(" fragment ");
      const document = `query($o: ID) { adminDatasets(first: 5, filter: { ownerId: $o }) { ${body} } } ${fragments ? `fragment ${fragments}` : ""}`;
      for (const _time of [1, 2]) {
        const page = ok(await server.graphql(document, { o: owner.id }, { token: admin.token })).adminDatasets;
        const owners = [...(page.nodes ?? []), ...(page.edges ?? []).map((edge: { node: UntypedData }) => edge.node)].map((node) => node.owner);
        expect(owners.length).toBeGreaterThan(0);
        for (const shown of owners) {
          for (const [field, value] of Object.entries(shown)) expect(value, `${field} in ${selection}`).toEqual(whole[field]);
        }
      }
    }
  });
});
