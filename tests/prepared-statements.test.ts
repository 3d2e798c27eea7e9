import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../src/db/database.js";
import { migrate } from "../src/db/migrate.js";
import { behindTransactionPooler } from "../src/db/pooler.js";
import { openPostgres } from "../src/db/postgres.js";
import { preparedName } from "../src/db/prepared.js";
import { DEFAULT_LIST_LIMIT, datasetList } from "../src/datasets/sql.js";
import { VIEWER_WITH_SESSION } from "../src/users/sql.js";
import { createTestDatabase, ENGINE, TEST_DATABASE_URL, type TestDatabase } from "./support/database.js";

/**
 * Named prepared statements (DATABASE_PREPARED_STATEMENTS): the hot statements are parsed
 * once per connection and, once PostgreSQL settles on it, planned once. Behind a transaction
 * pooler they are off (tests/multi-instance.test.ts starts pgbouncer); these are the
 * adapter's and the statements' side, on the machine's PostgreSQL.
 */
describe.runIf(ENGINE === "postgres")("named prepared statements", () => {
  let test: TestDatabase;
  const opened: Database[] = [];
  /** A pool of one connection in the test's schema, so that pg_prepared_statements is that connection's. */
  const single = (preparedStatements: boolean) => {
    const database = openPostgres({ connectionString: TEST_DATABASE_URL!, schema: test.schema!, max: 1, preparedStatements });
    opened.push(database);
    return database;
  };
  const preparedNames = async (database: Database) =>
    (await database.query<{ name: string }>("select name from pg_prepared_statements order by name")).map((row) => row.name);

  beforeAll(async () => {
    test = await createTestDatabase();
    await migrate(test.database);
  });
  afterAll(async () => {
    await Promise.all(opened.map((database) => database.close()));
    await test.drop();
  });

  it("runs a marked statement under its name when on, and none when off", async () => {
    const name = preparedName(VIEWER_WITH_SESSION)!;
    expect(name).toMatch(/^q_[0-9a-f]{24}$/);
    const on = single(true);
    expect(await on.query(VIEWER_WITH_SESSION, [randomUUID(), randomUUID()])).toEqual([]);
    expect(await preparedNames(on)).toEqual([name]);
    const off = single(false);
    expect(await off.query(VIEWER_WITH_SESSION, [randomUUID(), randomUUID()])).toEqual([]);
    expect(await preparedNames(off)).toEqual([]);
  });

  it("never names a statement that is not marked (the one above is, this one is not)", async () => {
    const on = single(true);
    expect(await on.query("select $1::int + 1 as n", [1])).toEqual([{ n: 2 }]);
    expect(await preparedNames(on)).toEqual([]);
  });

  it("runs a statement the connection lost again unnamed, and names none after", async () => {
    const on = single(true);
    const params = [randomUUID(), randomUUID()];
    await on.query(VIEWER_WITH_SESSION, params);
    // What a transaction pooler does: the next execution lands where the statement is not.
    await on.query("deallocate all");
    expect(await on.query(VIEWER_WITH_SESSION, params)).toEqual([]);
    await on.query(VIEWER_WITH_SESSION, params);
    expect(await preparedNames(on)).toEqual([]);
  });

  it("marks the list statements but a search, each written without an optional filter", () => {
    const shape = { totalCount: true, owners: false, scope: "owner" as const, search: false, after: true };
    const plain = datasetList("CREATED_AT_DESC", shape);
    expect(preparedName(plain.text)).toBeDefined();
    expect(plain.text).not.toMatch(/is null/);
    expect(plain.params({ subject: "o", pattern: null, afterKey: "k", afterId: "i", limit: 21 })).toEqual(["o", "k", "i", 21]);
    const search = datasetList("CREATED_AT_DESC", { ...shape, search: true });
    expect(preparedName(search.text)).toBeUndefined();
    // The default page's LIMIT is in the text, so that its generic plan is costed for 21 rows.
    const page = datasetList("CREATED_AT_DESC", shape, DEFAULT_LIST_LIMIT);
    expect(page.text).toMatch(/limit 21$/);
    expect(page.params({ subject: "o", pattern: null, afterKey: "k", afterId: "i", limit: 21 })).toEqual(["o", "k", "i"]);
    expect(datasetList("CREATED_AT_DESC", shape, 51).text).toBe(plain.text);
  });

  it("gives the owner's page a generic plan on the owner's index", async () => {
    const page = datasetList("CREATED_AT_DESC", { totalCount: false, owners: false, scope: "owner" as const, search: false, after: false });
    const plan = await test.database.transaction(async (tx) => {
      await tx.query("set local plan_cache_mode = force_generic_plan");
      await tx.query("set local enable_seqscan = off");
      await tx.script(`prepare owner_page as ${page.text}`);
      const rows = await tx.query<{ "QUERY PLAN": string }>(`explain (costs off) execute owner_page('${randomUUID()}', 21)`);
      await tx.script("deallocate owner_page");
      return rows.map((row) => row["QUERY PLAN"]).join("\n");
    });
    expect(plan).toMatch(/Index Scan Backward using datasets_user_created_idx/);
    expect(plan).toMatch(/Index Cond: \(user_id = \$1\)/);
  });

  it("finds no transaction pooler between the tests and PostgreSQL", async () => {
    expect(await behindTransactionPooler(TEST_DATABASE_URL!)).toBe(false);
  });
});
