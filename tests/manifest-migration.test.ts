import { createHash } from "node:crypto";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { LoginDocument } from "../client/generated/graphql.js";
import { MIGRATIONS_DIR, migrate } from "../src/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { startServer, type TestServer, type UntypedData } from "./support/server.js";

/**
 * Migration 011 turns lists copied into every version (008) into rows spanning versions: a
 * database holding versions written the old way, then the server started on it, lists every
 * version exactly as before, and goes on committing.
 */

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const CONTENT = { A: "content A", B: "content B", B2: "content B2", C: "content C" } as const;
type Name = keyof typeof CONTENT;
/** A version's files as written by the old schema: path to content name and content type. */
type OldList = Record<string, [Name, string]>;

// One dataset's history: a path kept, changed, removed, put back with its first content, all
// removed (an empty version), re-added, and one given another content type.
const HISTORY: OldList[] = [
  { "a.csv": ["A", "text/csv"], "b.csv": ["B", "text/csv"], "c.csv": ["C", "text/csv"] },
  { "a.csv": ["A", "text/csv"], "b.csv": ["B2", "text/csv"], "c.csv": ["C", "text/csv"] },
  { "a.csv": ["A", "text/csv"], "c.csv": ["C", "text/csv"] },
  { "a.csv": ["A", "text/csv"], "b.csv": ["B", "text/csv"], "c.csv": ["C", "text/csv"] },
  {},
  { "a.csv": ["A", "text/csv"] },
  { "a.csv": ["A", "application/octet-stream"] },
];
// Another dataset: the same file in both versions.
const OTHER: OldList[] = [{ "x/y.bin": ["A", "application/octet-stream"] }, { "x/y.bin": ["A", "application/octet-stream"] }];

let database: TestDatabase;
let server: TestServer;
let token: string;
let datasets: { history: string; other: string; empty: string };

beforeAll(async () => {
  database = await createTestDatabase();
  // The schema as it was before 011.
  const before = await mkdtemp(join(tmpdir(), "migrations-before-011-"));
  for (const name of await readdir(MIGRATIONS_DIR)) if (/^0(0\d|10)_/.test(name)) await copyFile(join(MIGRATIONS_DIR, name), join(before, name));
  await migrate(database.database, before);
  await rm(before, { recursive: true, force: true });

  const db = database.database;
  const password = "a long enough password for the test";
  const [user] = await db.query<{ id: string }>(
    "insert into users (email, username, password_hash) values ('old@example.com', 'olduser', $1) returning id",
    [bcrypt.hashSync(password, 4)],
  );
  for (const text of Object.values(CONTENT)) await db.query("insert into blobs (sha256, size) values ($1, $2)", [sha(text), text.length]);
  const write = async (name: string, history: OldList[]) => {
    const [dataset] = await db.query<{ id: string }>("insert into datasets (user_id, name, latest_version) values ($1, $2, $3) returning id", [
      user!.id,
      name,
      history.length,
    ]);
    for (const [index, files] of history.entries()) {
      const entries = Object.entries(files);
      const total = entries.reduce((sum, [, [content]]) => sum + CONTENT[content].length, 0);
      await db.query("insert into dataset_versions (dataset_id, number, message, file_count, total_size) values ($1, $2, $3, $4, $5)", [
        dataset!.id,
        index + 1,
        `version ${index + 1}`,
        entries.length,
        total,
      ]);
      for (const [path, [content, type]] of entries) {
        await db.query("insert into version_files (dataset_id, version, path, sha256, size, content_type) values ($1, $2, $3, $4, $5, $6)", [
          dataset!.id,
          index + 1,
          path,
          sha(CONTENT[content]),
          CONTENT[content].length,
          type,
        ]);
      }
    }
    return dataset!.id;
  };
  datasets = { history: await write("history", HISTORY), other: await write("other", OTHER), empty: await write("empty", []) };

  // The server applies 011 as it starts.
  server = await startServer({}, undefined, { database: db, databaseUrl: database.url });
  const login = await server.graphql(LoginDocument, { input: { email: "old@example.com", password } });
  expect(login.errors).toBeUndefined();
  token = login.data!.login.accessToken;
});

afterAll(async () => {
  await server?.close();
  await database?.drop();
});

/** A version's files as the API lists them, in the old list's terms. */
async function listed(datasetId: string, number: number): Promise<UntypedData> {
  const response = await server.graphql(
    `query($id: ID!, $n: Int!) { dataset(id: $id) { version(number: $n) { message fileCount files { path sha256 size contentType } } } }`,
    { id: datasetId, n: number },
    { token },
  );
  expect(response.errors).toBeUndefined();
  return response.data.dataset.version;
}

const asListed = (files: OldList, number: number) => ({
  message: `version ${number}`,
  fileCount: Object.keys(files).length,
  files: Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, [content, contentType]]) => ({ path, sha256: sha(CONTENT[content]), size: CONTENT[content].length, contentType })),
});

it("lists every version as the copied lists held it, from one row per run of unchanged versions", async () => {
  for (const [name, history] of [
    ["history", HISTORY],
    ["other", OTHER],
  ] as const) {
    for (const [index, files] of history.entries()) expect(await listed(datasets[name], index + 1)).toEqual(asListed(files, index + 1));
  }
  const rows = await server.database.query<{ path: string; first: number; last: number | null }>(
    `select path, first_version as "first", last_version as "last" from version_files where dataset_id = $1 order by path, first_version`,
    [datasets.history],
  );
  expect(rows).toEqual([
    { path: "a.csv", first: 1, last: 4 },
    { path: "a.csv", first: 6, last: 6 },
    { path: "a.csv", first: 7, last: null },
    { path: "b.csv", first: 1, last: 1 },
    { path: "b.csv", first: 2, last: 2 },
    { path: "b.csv", first: 4, last: 4 },
    { path: "c.csv", first: 1, last: 4 },
  ]);
  expect(await server.database.query("select first_version, last_version from version_files where dataset_id = $1", [datasets.other])).toEqual([
    { first_version: 1, last_version: null },
  ]);
  // The quota's content sets and the metering, as commits would have kept them.
  const content = await server.database.query<{ sha256: string }>("select sha256 from dataset_content where dataset_id = $1 order by sha256", [
    datasets.history,
  ]);
  expect(content.map((row) => row.sha256)).toEqual([CONTENT.A, CONTENT.B, CONTENT.B2, CONTENT.C].map(sha).sort());
  const [metered] = await server.database.query<{ bytes: number }>("select metadata_bytes::float8 as bytes from datasets where id = $1", [
    datasets.other,
  ]);
  expect(metered!.bytes).toBe(2 * (128 + "version 1".length) + 256 + 6 * "x/y.bin".length + "application/octet-stream".length);
});

it("goes on committing on the converted rows, leaving the converted versions as they were", async () => {
  const response = await server.graphql(
    `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number fileCount } }`,
    { input: { datasetId: datasets.history, changes: [{ path: "a.csv", uploadId: null }], parentVersion: 7 } },
    { token },
  );
  expect(response.errors).toBeUndefined();
  expect(response.data.commitDatasetVersion).toEqual({ number: 8, fileCount: 0 });
  for (const [index, files] of HISTORY.entries()) expect(await listed(datasets.history, index + 1)).toEqual(asListed(files, index + 1));
  const empty = await server.graphql(`query($id: ID!) { dataset(id: $id) { latestVersion { number } } }`, { id: datasets.empty }, { token });
  expect(empty.data.dataset.latestVersion).toBeNull();
});
