import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExploreDatasetsDocument } from "../client/generated/graphql.js";
import { createAdmin, createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { type CatalogFilter, catalogSummary } from "../src/datasets/catalog-sql.js";
import { commitFiles } from "./support/files.js";
import { errorCode, type GraphQLResponse, startServer, type TestServer } from "./support/server.js";

/**
 * The public catalog, `exploreDatasets` (docs/api.md "Publishing"): PUBLIC datasets only, for
 * anyone; filters, facets over the whole filtered result, keyset pages. The catalog is the
 * whole server's, so this file has a server of its own and knows every dataset on it.
 */

let server: TestServer;
let alice: TestUser;
let bob: TestUser;
/** The public datasets, by name. */
const ids: Record<string, string> = {};

type Explore = {
  first?: number;
  after?: string;
  filter?: Record<string, unknown>;
  orderBy?: "CREATED_AT_DESC" | "CREATED_AT_ASC" | "NAME_ASC" | "NAME_DESC";
};
const explore = (variables: Explore, token?: string) => server.graphql(ExploreDatasetsDocument, variables, { token });
const ok = async (variables: Explore, token?: string) => {
  const response = await explore(variables, token);
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  return response.data!.exploreDatasets;
};
const names = (connection: { edges: Array<{ node: { name: string } }> }) => connection.edges.map((edge) => edge.node.name);

beforeAll(async () => {
  server = await startServer();
  [alice, bob] = [await createUser(server), await createUser(server)];
  // Made in this order (CREATED_AT_DESC lists them the other way round).
  const made: Array<[TestUser, string, Record<string, unknown>]> = [
    [alice, "Rainfall", { visibility: "PUBLIC", tags: ["climate", "water"], license: "CC-BY-4.0", description: "Daily rainfall by station" }],
    [alice, "Rivers", { visibility: "PUBLIC", tags: ["water"], license: "ODbL-1.0" }],
    [bob, "Temperatures", { visibility: "PUBLIC", tags: ["climate"], license: "CC-BY-4.0" }],
    [bob, "Census", { visibility: "PUBLIC", tags: [], license: null, description: "Population; no rain here" }],
    [alice, "Hidden rain", { visibility: "UNLISTED", tags: ["climate", "water"], license: "CC-BY-4.0" }],
    [bob, "Private rain", { visibility: "PRIVATE", tags: ["climate"], license: "MIT" }],
  ];
  for (const [owner, name, input] of made) {
    const { id } = await createDataset(server, owner, { name, ...input });
    if (input.visibility === "PUBLIC") ids[name] = id;
    // Timestamps are in milliseconds: one apart at least, so the order is the order made.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await commitFiles(server, alice.token, ids.Rainfall!, { "daily.csv": Buffer.from("d,mm\n1,2\n"), "notes.txt": Buffer.from("hi") });
  await commitFiles(server, alice.token, ids.Rivers!, { "rivers.jsonl": Buffer.from('{"a":1}\n'), "more.csv": Buffer.from("a\n1\n") });
  await commitFiles(server, bob.token, ids.Temperatures!, { "t.csv": Buffer.from("t\n1\n") });
  // Census had a CSV once; its latest version holds only a Parquet name: only the latest counts.
  await commitFiles(server, bob.token, ids.Census!, { "census.csv": Buffer.from("p\n1\n") });
  await commitFiles(server, bob.token, ids.Census!, { "census.csv": null, "census.parquet": Buffer.from("PAR1") });
  // Generous: eleven uploads and five commits on a machine that may be busy.
}, 240_000);
afterAll(() => server.close());

describe("exploreDatasets", () => {
  it("lists PUBLIC datasets only, the same for anonymous, a user and an admin, newest first, with owners' usernames", async () => {
    const admin = await createAdmin(server);
    for (const token of [undefined, alice.token, admin.token]) {
      const page = await ok({}, token);
      expect(names(page)).toEqual(["Census", "Temperatures", "Rivers", "Rainfall"]);
      expect(page.totalCount).toBe(4);
      expect(page.edges[0]!.node.owner.username).toBe(bob.username);
    }
  });

  it("counts facets over the whole filtered result, most frequent first, then by value", async () => {
    const { facets } = await ok({ first: 1 });
    expect(facets.tags).toMatchObject([
      { value: "climate", count: 2 },
      { value: "water", count: 2 },
    ]);
    expect(facets.licenses).toMatchObject([
      { value: "CC-BY-4.0", count: 2 },
      { value: "ODbL-1.0", count: 1 },
    ]);
    // A dataset counts once per format, however many files of it; notes.txt is no table.
    expect(facets.formats).toMatchObject([
      { value: "csv", count: 3 },
      { value: "jsonl", count: 1 },
      { value: "parquet", count: 1 },
    ]);
  });

  it.each([
    ["tags (every one given)", { tags: ["climate", "water"] }, ["Rainfall"]],
    ["one tag", { tags: ["water"] }, ["Rivers", "Rainfall"]],
    ["a licence, in any case", { license: "cc-by-4.0" }, ["Temperatures", "Rainfall"]],
    ["an owner's username, in any case", () => ({ owner: bob.username.toUpperCase() }), ["Census", "Temperatures"]],
    ["an unknown owner", { owner: "nobody-here" }, []],
    ["a search of name or description", { search: "RAIN" }, ["Census", "Rainfall"]],
    ["a format of a latest-version file", { format: "csv" }, ["Temperatures", "Rivers", "Rainfall"]],
    ["a format only an older version had", { format: "parquet" }, ["Census"]],
    ["several filters at once", { tags: ["climate"], license: "CC-BY-4.0", search: "temp" }, ["Temperatures"]],
  ] as Array<[string, () => Record<string, unknown> | Record<string, unknown>, string[]]>)("filters by %s", async (_what, filter, expected) => {
    const page = await ok({ filter: typeof filter === "function" ? filter() : filter });
    expect(names(page)).toEqual(expected);
    expect(page.totalCount).toBe(expected.length);
  });

  it("computes the facets of the filtered result, not of the page", async () => {
    const page = await ok({ first: 1, filter: { tags: ["water"] } });
    expect(names(page)).toEqual(["Rivers"]);
    expect(page.totalCount).toBe(2);
    expect(page.facets.tags).toMatchObject([
      { value: "water", count: 2 },
      { value: "climate", count: 1 },
    ]);
    expect(page.facets.formats).toMatchObject([
      { value: "csv", count: 2 },
      { value: "jsonl", count: 1 },
    ]);
    const none = await ok({ filter: { owner: "nobody-here" } });
    expect(none.facets).toMatchObject({ tags: [], licenses: [], formats: [] });
  });

  it.each(["CREATED_AT_DESC", "CREATED_AT_ASC", "NAME_ASC", "NAME_DESC"] as const)("pages by keyset in %s, every dataset once", async (orderBy) => {
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await ok({ first: 1, orderBy, ...(after ? { after } : {}) });
      seen.push(...names(page));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor!;
    }
    const all = names(await ok({ orderBy }));
    expect(seen).toEqual(all);
    const expected = {
      CREATED_AT_DESC: ["Census", "Temperatures", "Rivers", "Rainfall"],
      CREATED_AT_ASC: ["Rainfall", "Rivers", "Temperatures", "Census"],
      NAME_ASC: ["Census", "Rainfall", "Rivers", "Temperatures"],
      NAME_DESC: ["Temperatures", "Rivers", "Rainfall", "Census"],
    }[orderBy];
    expect(all).toEqual(expected);
  });

  it("loses a dataset made private, and gains one made public, on the next request", async () => {
    const { id } = await createDataset(server, alice, { name: unique("Flip"), visibility: "PUBLIC", tags: ["flip"] });
    expect((await ok({ filter: { tags: ["flip"] } })).totalCount).toBe(1);
    const hide = await server.graphql(
      `mutation($id: ID!) { updateDataset(id: $id, input: { visibility: PRIVATE }) { id } }`,
      { id },
      { token: alice.token },
    );
    expect(hide.errors).toBeUndefined();
    const page = await ok({ filter: { tags: ["flip"] } });
    expect(page.totalCount).toBe(0);
    expect(page.facets.tags).toEqual([]);
  });

  it("keeps the unfiltered count and facets right as a public dataset changes tags and files, goes private, comes back, and is deleted", async () => {
    type Connection = Awaited<ReturnType<typeof ok>>;
    const counted = (page: Connection, facet: "tags" | "licenses" | "formats", value: string) =>
      page.facets[facet].find((entry) => entry.value === value)?.count ?? 0;
    // The unfiltered catalog reads the kept counts (migrations/016); a search every public dataset
    // matches groups them in SQL, as a filtered catalog does: both must say the same, always.
    const whole: CatalogFilter = { pattern: null, tags: null, license: null, owner: null, format: null, only: null };
    const summaryOf = async (filter: CatalogFilter) => {
      const statement = catalogSummary(filter);
      return (await server.database.query(statement.text, statement.params))[0];
    };
    const expectCounts = async (expected: {
      total: number;
      tags: Record<string, number>;
      licenses: Record<string, number>;
      formats: Record<string, number>;
    }) => {
      const page = await ok({ first: 1 });
      expect(page.totalCount).toBe(expected.total);
      for (const facet of ["tags", "licenses", "formats"] as const) {
        for (const [value, count] of Object.entries(expected[facet])) expect(counted(page, facet, value), `${facet} ${value}`).toBe(count);
      }
      expect(await summaryOf(whole)).toEqual(await summaryOf({ ...whole, pattern: "%" }));
    };
    const before = await ok({ first: 1 });
    const was = (facet: "licenses" | "formats", value: string) => counted(before, facet, value);
    const update = async (id: string, input: Record<string, unknown>) => {
      const response = await server.graphql(
        `mutation($id: ID!, $input: UpdateDatasetInput!) { updateDataset(id: $id, input: $input) { id } }`,
        { id, input },
        { token: alice.token },
      );
      expect(response.errors).toBeUndefined();
    };

    const { id } = await createDataset(server, alice, {
      name: unique("Counted"),
      visibility: "PUBLIC",
      tags: ["counted-a", "counted-b"],
      license: "MIT",
    });
    await commitFiles(server, alice.token, id, { "a.tsv": Buffer.from("x\ty\n1\t2\n"), "b.csv": Buffer.from("x\n1\n") });
    await expectCounts({
      total: before.totalCount + 1,
      tags: { "counted-a": 1, "counted-b": 1, "counted-c": 0 },
      licenses: { MIT: was("licenses", "MIT") + 1 },
      formats: { tsv: was("formats", "tsv") + 1, csv: was("formats", "csv") + 1 },
    });

    await update(id, { tags: ["counted-b", "counted-c"], license: "CC0-1.0" });
    await commitFiles(server, alice.token, id, { "a.tsv": null });
    const changed = {
      total: before.totalCount + 1,
      tags: { "counted-a": 0, "counted-b": 1, "counted-c": 1 },
      licenses: { MIT: was("licenses", "MIT"), "CC0-1.0": was("licenses", "CC0-1.0") + 1 },
      formats: { tsv: was("formats", "tsv"), csv: was("formats", "csv") + 1 },
    };
    await expectCounts(changed);

    const gone = {
      total: before.totalCount,
      tags: { "counted-a": 0, "counted-b": 0, "counted-c": 0 },
      licenses: { MIT: was("licenses", "MIT"), "CC0-1.0": was("licenses", "CC0-1.0") },
      formats: { tsv: was("formats", "tsv"), csv: was("formats", "csv") },
    };
    await update(id, { visibility: "PRIVATE" });
    await expectCounts(gone);
    // Changed while private: counted as it is when it comes back.
    await update(id, { tags: ["counted-c"] });
    await update(id, { visibility: "PUBLIC" });
    await expectCounts({ ...changed, tags: { "counted-a": 0, "counted-b": 0, "counted-c": 1 } });

    const deleted = await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id }, { token: alice.token });
    expect(deleted.errors).toBeUndefined();
    await expectCounts(gone);
  }, 60_000);

  const BAD: Array<[string, Explore, string]> = [
    ["an unknown licence", { filter: { license: "Not-A-Licence" } }, "filter.license"],
    ["a malformed tag", { filter: { tags: ["Not OK"] } }, "filter.tags[0]"],
    ["21 tags", { filter: { tags: Array.from({ length: 21 }, (_, at) => `t${at}`) } }, "filter.tags"],
    ["an unknown format", { filter: { format: "xlsx" } }, "filter.format"],
    ["a malformed owner", { filter: { owner: "a b" } }, "filter.owner"],
    ["a search of 201 characters", { filter: { search: "s".repeat(201) } }, "filter.search"],
    ["first: 0", { first: 0 }, "first"],
    ["first: 101", { first: 101 }, "first"],
    ["a cursor not issued here", { after: "bm90IGEgY3Vyc29y" }, "after"],
  ];
  it.each(BAD)("refuses %s as BAD_USER_INPUT naming the field", async (_what, variables, field) => {
    const response: GraphQLResponse = await explore(variables);
    expect(errorCode(response)).toBe("BAD_USER_INPUT");
    expect(response.errors![0]!.extensions.field).toBe(field);
  });

  it("refuses a cursor of another order", async () => {
    const page = await ok({ first: 1, orderBy: "NAME_ASC" });
    const response = await explore({ first: 1, orderBy: "CREATED_AT_DESC", after: page.pageInfo.endCursor! });
    expect(errorCode(response)).toBe("BAD_USER_INPUT");
  });
});
