import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgres } from "../src/db/postgres.js";
import { isoTimestamp } from "../src/db/timestamps.js";
import { ENGINE, TEST_DATABASE_URL } from "./support/database.js";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * Timestamps reach the API as the text the database wrote, moved into `toISOString()`'s
 * form, instead of being parsed into a `Date` and formatted again (src/db/timestamps.ts).
 * The bytes the client gets must be the ones the `Date` gave: each case below is compared
 * with what the driver's own parser (postgres-date) and `Date.prototype.toJSON` make of the
 * same text, as the server did before.
 */

/** What the server sent before: the driver's `Date`, as JSON.stringify writes it. */
const parseAsDate = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, "text") as (text: string) => Date;
const asBefore = (text: string) => JSON.stringify(parseAsDate(text));
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("timestamps through the API", () => {
  let server: TestServer;
  let owner: TestUser;

  beforeAll(async () => {
    server = await startServer();
    owner = await createUser(server);
  });
  afterAll(() => server.close());

  const CASES = [
    "2024-05-06 07:08:09.123456+00", // microseconds: cut, as the Date cut them
    "2024-05-06 07:08:09.1234+00",
    "2024-05-06 07:08:09.123+00", // milliseconds, as the server writes its own times
    "2024-05-06 07:08:09.57+00", // PostgreSQL drops trailing zeros
    "2024-05-06 07:08:09.5+00",
    "2024-05-06 07:08:09+00", // no fraction at all
    "2024-12-31 23:59:59.999999+00",
    "0099-01-01 00:00:00+00", // a two-digit year, which Date.UTC would move to 1999
    "12000-01-01 00:00:00+00", // past 9999: toISOString writes +012000-…
  ];

  it.each(CASES)("shows %s byte for byte as before", async (stored) => {
    const dataset = await createDataset(server, owner, { name: `at ${stored}` });
    await server.database.query("update datasets set created_at = $2::timestamptz where id = $1", [dataset.id, stored]);
    const [row] = await server.database.query<{ text: string }>("select created_at::text as text from datasets where id = $1", [dataset.id]);
    const response = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${owner.token}` },
      body: JSON.stringify({ query: `query($id: ID!) { dataset(id: $id) { createdAt } }`, variables: { id: dataset.id } }),
    });
    // The body's start, byte for byte (after it: the extensions, which are not about time).
    expect((await response.text()).slice(0, 100)).toMatch(
      new RegExp(`^${escapeRegExp(`{"data":{"dataset":{"createdAt":${asBefore(row!.text)}}}`)}[,}]`),
    );
  });

  it("reads timestamps as the same text in a list, an owner's row and a write's answer", async () => {
    const other = await createUser(server);
    const created = await server.graphql(
      `mutation { createDataset(input: { name: "fresh" }) { id createdAt updatedAt } }`,
      {},
      { token: other.token },
    );
    const { createdAt, updatedAt } = created.data.createDataset;
    expect(createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const listed = await server.graphql(`{ datasets(first: 1) { nodes { createdAt updatedAt owner { createdAt } } } }`, {}, { token: other.token });
    expect(listed.data.datasets.nodes[0]).toMatchObject({ createdAt, updatedAt });
    const [row] = await server.database.query<{ text: string }>("select created_at::text as text from users where id = $1", [other.id]);
    expect(JSON.stringify(listed.data.datasets.nodes[0].owner.createdAt)).toBe(asBefore(row!.text));
  });
});

describe("the text a timestamp is read as", () => {
  it.each([
    ["2024-05-06 07:08:09.123456+00", "2024-05-06T07:08:09.123Z"],
    ["2024-05-06 07:08:09+00", "2024-05-06T07:08:09.000Z"],
    ["2024-05-06 09:08:09.1+02", "2024-05-06T07:08:09.100Z"], // another TimeZone: through a Date
    ["2024-05-06 01:38:09.1-05:30", "2024-05-06T07:08:09.100Z"],
    ["2024-01-01 00:00:00+00 BC", "-002023-01-01T00:00:00.000Z"],
  ])("%s is %s", (text, iso) => {
    expect(isoTimestamp(text)).toBe(iso);
    expect(isoTimestamp(text)).toBe(parseAsDate(text).toISOString());
  });

  // PostgreSQL writes a timestamptz in the session's TimeZone: the offset is read, not assumed.
  it.runIf(ENGINE === "postgres")("is the same instant whatever the session's TimeZone", async () => {
    const url = new URL(TEST_DATABASE_URL!);
    url.searchParams.set("options", "-c TimeZone=Asia/Kolkata");
    const database = openPostgres({ connectionString: url.toString(), max: 1 });
    try {
      const [row] = await database.query<{ at: string; text: string }>(
        "select timestamptz '2024-05-06 07:08:09.123456+00' as at, timestamptz '2024-05-06 07:08:09.123456+00'::text as text",
      );
      expect(row!.text).toBe("2024-05-06 12:38:09.123456+05:30");
      expect(row!.at).toBe("2024-05-06T07:08:09.123Z");
    } finally {
      await database.close();
    }
  });
});
