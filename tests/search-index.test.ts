import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containsPattern } from "../src/common/search.js";
import { datasetList } from "../src/datasets/sql.js";
import { ENGINE } from "./support/database.js";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * On PostgreSQL, enough rows that the planner prefers the indexes by itself. PGlite takes
 * minutes to fill trigram indexes that large, so there a few rows show that the indexes
 * serve the search at all (the planner told to avoid a sequential scan where it can).
 */
const ROWS = ENGINE === "postgres" ? 100_000 : 2_000;

/**
 * migrations/007: the substring search of dataset lists is served by trigram indexes on
 * both engines, so a search that matches nothing no longer reads every row. The plans are
 * read with EXPLAIN on the list statements exactly as the server sends them, with its
 * parameters (so PostgreSQL plans them for their values, as it does the server's).
 */
describe("dataset search on many rows", () => {
  let server: TestServer;
  let owner: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    server = await startServer();
    owner = await createUser(server);
    admin = await createAdmin(server);
    // In statements of 10,000 rows: each stays well within the statement timeouts.
    for (let first = 1; first <= ROWS; first += 10_000) {
      await server.database.query(
        `insert into datasets (user_id, name, description)
         select $1, 'dataset ' || g, 'readings of sensor ' || g from generate_series($2::int, $3::int) g`,
        [owner.id, first, Math.min(ROWS, first + 9_999)],
      );
    }
    await createDataset(server, owner, { name: "Zebra crossings", description: null });
    await createDataset(server, owner, { name: "traffic", description: "counts at every ZEBRA crossing" });
    await server.database.query("analyze datasets");
  });
  afterAll(() => server.close());

  async function plan(ownerId: string | null, search: string): Promise<string> {
    const pattern = containsPattern(search);
    const statement = datasetList("CREATED_AT_DESC", {
      totalCount: true,
      owners: ownerId === null,
      scope: ownerId === null ? "all" : "owner",
      search: pattern !== null,
      after: false,
    });
    const explain = `explain (costs off) ${statement.text}`;
    const params = statement.params({ subject: ownerId, pattern, afterKey: null, afterId: null, limit: 21 });
    const rows = await server.database.transaction(async (tx) => {
      if (ENGINE === "pglite") {
        await tx.query("set local enable_seqscan = off");
        // Nor walk a list index in order, filtering: the few rows would make that cheap.
        await tx.query("set local enable_indexscan = off");
      }
      return tx.query<{ "QUERY PLAN": string }>(explain, params);
    });
    return rows.map((row) => row["QUERY PLAN"]).join("\n");
  }

  it("has the trigram indexes", async () => {
    const indexes = await server.database.query<{ indexname: string }>(
      `select indexname from pg_indexes where tablename = 'datasets' and schemaname = current_schema() and indexdef like '%gin_trgm_ops%' order by indexname`,
    );
    // The lists' two, and the catalog's two over public datasets only (migrations 007 and 013).
    expect(indexes.map((index) => index.indexname)).toEqual([
      "datasets_description_trgm_idx",
      "datasets_name_trgm_idx",
      "datasets_public_description_trgm_idx",
      "datasets_public_name_trgm_idx",
    ]);
  });

  const expectTrigramPlan = (text: string) => {
    expect(text).toMatch(/Bitmap Index Scan on datasets_name_trgm_idx/);
    expect(text).toMatch(/Bitmap Index Scan on datasets_description_trgm_idx/);
    expect(text).not.toMatch(/Seq Scan on datasets/);
  };

  it("serves the admin list's search and its count from the trigram indexes", async () => {
    expectTrigramPlan(await plan(null, "zzzz"));
  });

  // With PGlite's few rows, the owner's index narrows to them at least as well.
  it.runIf(ENGINE === "postgres")("serves a user's own list's search and its count from the trigram indexes", async () => {
    expectTrigramPlan(await plan(owner.id, "zzzz"));
  });

  it("finds what it found before, through the API", async () => {
    const query = `query($search: String) { datasets(first: 5, filter: { search: $search }) { totalCount nodes { name } } }`;
    const found = await server.graphql(query, { search: "zebra" }, { token: owner.token });
    expect(found.errors).toBeUndefined();
    expect(found.data.datasets.totalCount).toBe(2);
    expect(found.data.datasets.nodes.map((node: { name: string }) => node.name).sort()).toEqual(["Zebra crossings", "traffic"]);
    const none = await server.graphql(query, { search: "zzzz" }, { token: owner.token });
    expect(none.data.datasets).toEqual({ totalCount: 0, nodes: [] });
    const admins = await server.graphql(`{ adminDatasets(first: 1, filter: { search: "ZEBRA" }) { totalCount } }`, {}, { token: admin.token });
    expect(admins.data.adminDatasets.totalCount).toBe(2);
  });
});
