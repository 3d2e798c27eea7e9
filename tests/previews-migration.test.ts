import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR, migrate } from "../src/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

/**
 * Migration 012 makes previews per dataset: each profile made before it is kept for every
 * dataset that holds its content, and for no other. Applied here to a database that the
 * migrations before it made and that holds profiles of the old shape.
 */

const PER_DATASET = "012_previews_per_dataset";
const content = (letter: string) => letter.repeat(64);

describe("migration 012: previews per dataset", () => {
  let test: TestDatabase;
  let before: string;
  beforeAll(async () => {
    test = await createTestDatabase();
    before = await mkdtemp(join(tmpdir(), "migrations-before-"));
    for (const name of await readdir(MIGRATIONS_DIR)) {
      // Before 011 too: the profiles are written as 009 made them, the version files as 008 did,
      // so that 012 runs on what 011 made of them, as it does on a database of that age.
      if (/^\d+_[\w-]+\.sql$/.test(name) && name < "011") await copyFile(join(MIGRATIONS_DIR, name), join(before, name));
    }
    await migrate(test.database, before);
  });
  afterAll(async () => {
    await test.drop();
    await rm(before, { recursive: true, force: true });
  });

  it("copies each profile to every dataset holding its content, PENDING ones without a requester", async () => {
    const db = test.database;
    const [user] = await db.query<{ id: string }>(
      "insert into users (email, username, password_hash) values ('m@example.com', 'migrant', 'x') returning id",
    );
    const datasets: string[] = [];
    for (const name of ["one", "two", "three", "none"]) {
      const [row] = await db.query<{ id: string }>("insert into datasets (user_id, name) values ($1, $2) returning id", [user!.id, name]);
      datasets.push(row!.id);
    }
    const [one, two, three, none] = datasets as [string, string, string, string];
    for (const letter of ["a", "b", "c"]) await db.query("insert into blobs (sha256, size) values ($1, 10)", [content(letter)]);
    const holds: Array<[string, string[]]> = [
      [one, ["a"]],
      [two, ["a", "b"]],
      [three, ["b"]],
    ];
    for (const [dataset, letters] of holds) {
      await db.query("insert into dataset_versions (dataset_id, number, file_count, total_size) values ($1, 1, $2, 0)", [dataset, letters.length]);
      for (const letter of letters) {
        await db.query("insert into version_files (dataset_id, version, path, sha256, size, content_type) values ($1, 1, $2, $3, 10, 'text/csv')", [
          dataset,
          `${letter}.csv`,
          content(letter),
        ]);
      }
    }
    await db.query(
      `insert into file_previews (sha256, format, compression, status, row_count, columns, rows, attempts)
       values ($1, 'csv', 'none', 'READY', 1, '[{"name":"x","type":"BIGINT","nullCount":0}]', '[[1]]', 1)`,
      [content("a")],
    );
    await db.query("insert into file_previews (sha256, format, compression, status, attempts) values ($1, 'csv', 'none', 'PENDING', 1)", [
      content("b"),
    ]);
    // Content no dataset holds (an upload never committed) keeps no profile.
    await db.query("insert into file_previews (sha256, format, compression, status, error) values ($1, 'json', 'none', 'FAILED', 'bad')", [
      content("c"),
    ]);

    expect(await migrate(db)).toContain(PER_DATASET);

    const rows = await db.query<Record<string, unknown>>(
      `select dataset_id as "datasetId", left(sha256, 1) as content, status, row_count::int as "rowCount", rows, attempts, requested_by as "requestedBy"
       from file_previews order by sha256, dataset_id`,
    );
    const expected = [
      ...[one, two]
        .sort()
        .map((datasetId) => ({ datasetId, content: "a", status: "READY", rowCount: 1, rows: [[1]], attempts: 1, requestedBy: null })),
      ...[two, three]
        .sort()
        .map((datasetId) => ({ datasetId, content: "b", status: "PENDING", rowCount: null, rows: null, attempts: 1, requestedBy: null })),
    ];
    expect(rows).toEqual(expected);
    expect(rows.some((row) => row.datasetId === none)).toBe(false);
    // A dataset's profiles go with it.
    await db.query("delete from datasets where id = $1", [two]);
    expect(await db.query("select 1 from file_previews where dataset_id = $1", [two])).toEqual([]);
  });
});
