import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser } from "./support/factories.js";
import { commit, commitFiles, eventually, seedVersion, sha256, tusCreate, tusHead, tusPatch, upload, uploadIdOf } from "./support/files.js";
import { startServer, type TestServer, type UntypedData } from "./support/server.js";

/** Limits that hold before a byte is kept, one copy per content, and nothing left behind. */

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ MAX_FILE_SIZE: "1000", STORAGE_QUOTA: "3000" });
});
afterAll(() => server.close());

/** Every file under the blob store's directory (content addresses), excluding temporary writes. */
async function storedObjects(dataDir: string): Promise<string[]> {
  const root = join(dataDir, "files");
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.name.startsWith(".")) continue;
      if (entry.isDirectory()) await walk(join(dir, entry.name));
      else found.push(entry.name);
    }
  };
  await walk(root);
  return found;
}

describe("file limits", () => {
  it("refuses an Upload-Length over MAX_FILE_SIZE at creation with 413, before any byte", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const response = await tusCreate(server, { token: owner.token, length: 1001, metadata: { datasetId: dataset.id } });
    expect(response.status).toBe(413);
    expect(await server.database.query("select id from uploads where user_id = $1", [owner.id])).toEqual([]);
  });

  it("refuses a creation that would pass the quota (413), counting each content once", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const kilobyte = Buffer.alloc(900, 1);
    await commitFiles(server, owner.token, dataset.id, { "a.bin": kilobyte, "same-again.bin": kilobyte, "b.bin": Buffer.alloc(900, 2) });
    // 1,800 bytes used (the same content twice counts once): 900 more fit, 1,000 do not... with 300 left over.
    const fits = await tusCreate(server, { token: owner.token, length: 900, metadata: { datasetId: dataset.id } });
    expect(fits.status).toBe(201);
    const over = await tusCreate(server, { token: owner.token, length: 400, metadata: { datasetId: dataset.id } });
    expect(over.status).toBe(413);
    expect(await over.text()).toMatch(/quota/i);
  });

  it("counts an editor's commits against the owner's quota: past it, QUOTA_EXCEEDED and nothing is written", async () => {
    const owner = await createUser(server);
    const editor = await createUser(server);
    const dataset = await createDataset(server, owner);
    await commitFiles(server, owner.token, dataset.id, { "mine.bin": Buffer.alloc(900, 3), "also-mine.bin": Buffer.alloc(900, 4) });
    const shared = await server.graphql(
      `mutation($d: ID!, $u: String!) { shareDataset(datasetId: $d, username: $u, role: EDITOR) { role } }`,
      { d: dataset.id, u: editor.username },
      { token: owner.token },
    );
    expect(shared.errors).toBeUndefined();
    // 1,800 of the owner's 3,000 bytes are used: the editor's first 900 fit, the next 900 do not.
    const first = await upload(server, editor.token, dataset.id, Buffer.alloc(900, 5));
    expect((await commit(server, editor.token, { datasetId: dataset.id, changes: [{ path: "e1.bin", uploadId: first }] })).errors).toBeUndefined();
    // The next 900 do not fit; the same content as one of the owner's files counts whole too,
    // and gets the same answer (whether the owner holds given bytes must not show).
    const second = await upload(server, editor.token, dataset.id, Buffer.alloc(900, 6));
    const over = await commit(server, editor.token, { datasetId: dataset.id, changes: [{ path: "e2.bin", uploadId: second }] });
    expect(over.errors?.map((error) => error.extensions.code)).toEqual(["QUOTA_EXCEEDED"]);
    const again = await upload(server, editor.token, dataset.id, Buffer.alloc(900, 3));
    const copy = await commit(server, editor.token, { datasetId: dataset.id, changes: [{ path: "copy.bin", uploadId: again }] });
    expect(copy.errors?.map((error) => [error.extensions.code, error.message])).toEqual(
      over.errors?.map((error) => [error.extensions.code, error.message]),
    );
    const latest = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { number fileCount } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(latest.data.dataset.latestVersion).toEqual({ number: 2, fileCount: 3 });
  });

  it("gives a terminated upload's quota back at once, and keeps no row of it", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const create = () => tusCreate(server, { token: owner.token, length: 1000, metadata: { datasetId: dataset.id } });
    const ids = [];
    for (let index = 0; index < 3; index += 1) ids.push(uploadIdOf(await create()));
    expect((await create()).status).toBe(413);
    const terminated = await fetch(`${server.origin}/uploads/${ids[0]}`, {
      method: "DELETE",
      headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${owner.token}` },
    });
    expect(terminated.status).toBe(204);
    expect(await server.database.query("select id from uploads where id = $1", [ids[0]])).toEqual([]);
    expect((await create()).status).toBe(201);
  });

  it("cuts a deferred-length upload off when it crosses the size limit", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const created = await tusCreate(server, { token: owner.token, length: "deferred", metadata: { datasetId: dataset.id } });
    expect(created.status).toBe(201);
    const id = uploadIdOf(created);
    const response = await tusPatch(server, owner.token, id, 0, Buffer.alloc(1500, 7));
    expect(response.status).toBe(413);
    const head = await tusHead(server, owner.token, id);
    expect(Number(head.headers.get("upload-offset"))).toBeLessThanOrEqual(1000);
  });

  it("stores the same content once, whoever uploads it, and deleting datasets removes unreferenced bytes", async () => {
    const [alice, bob] = await Promise.all([createUser(server), createUser(server)]);
    const [a, b] = await Promise.all([createDataset(server, alice), createDataset(server, bob)]);
    const shared = Buffer.from(`shared content ${Math.random()}`);
    const own = Buffer.from(`alice only ${Math.random()}`);
    await commitFiles(server, alice.token, a.id, { "shared.txt": shared, "own.txt": own });
    await commitFiles(server, bob.token, b.id, { "copy.txt": shared });
    const objects = await storedObjects(server.config.dataDir);
    expect(objects.filter((name) => name === sha256(shared))).toHaveLength(1);

    const deleted = await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: a.id }, { token: alice.token });
    expect(deleted.errors).toBeUndefined();
    // Content goes right after the answer (not before it: its time must not tell whether others hold it).
    await eventually(async () => !(await storedObjects(server.config.dataDir)).includes(sha256(own)), "alice's own content is removed");
    expect(await storedObjects(server.config.dataDir)).toContain(sha256(shared)); // bob's version still holds it
    await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: b.id }, { token: bob.token });
    // Its bytes and its row go in two steps of the collector: wait for both.
    await eventually(
      async () =>
        !(await storedObjects(server.config.dataDir)).includes(sha256(shared)) &&
        (await server.database.query("select sha256 from blobs where sha256 = any($1)", [[sha256(shared), sha256(own)]])).length === 0,
      "the shared content and its row are removed",
    );
  });

  it("sweeps expired uploads: rows, staged bytes and finished content go", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const unfinished = uploadIdOf(await tusCreate(server, { token: owner.token, length: 100, metadata: { datasetId: dataset.id } }));
    await tusPatch(server, owner.token, unfinished, 0, Buffer.alloc(40, 3));
    const finishedBytes = Buffer.from(`finished but never committed ${Math.random()}`);
    const finished = await upload(server, owner.token, dataset.id, finishedBytes);
    await server.database.query("update uploads set expires_at = now() - interval '1 second' where id = any($1)", [[unfinished, finished]]);

    // A second instance on the same database and directories sweeps when it starts.
    const second = await startServer({ DATA_DIR: server.config.dataDir }, undefined, server);
    try {
      // The rows go first, the bytes a moment after (staged files and unreferenced content are
      // removed after the rows' transaction): wait for all of it, not only the rows.
      await eventually(
        async () =>
          (await server.database.query("select id from uploads where id = any($1)", [[unfinished, finished]])).length === 0 &&
          !(await readdir(join(server.config.dataDir, "uploads"))).includes(unfinished) &&
          !(await storedObjects(server.config.dataDir)).includes(sha256(finishedBytes)),
        "the expired uploads' rows, staged bytes and content are gone",
      );
      expect(await server.database.query("select id from uploads where id = any($1)", [[unfinished, finished]])).toEqual([]);
      expect(await readdir(join(server.config.dataDir, "uploads"))).not.toContain(unfinished);
      expect(await storedObjects(server.config.dataDir)).not.toContain(sha256(finishedBytes));
      expect((await tusHead(server, owner.token, unfinished)).status).toBe(404);
    } finally {
      await second.close();
    }
  });
});

describe("termination and immutability", () => {
  it("terminates an unfinished upload (DELETE): its row and staged bytes go, and it no longer counts", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const id = uploadIdOf(await tusCreate(server, { token: owner.token, length: 900, metadata: { datasetId: dataset.id } }));
    await tusPatch(server, owner.token, id, 0, Buffer.alloc(100));
    const deleted = await fetch(`${server.origin}/uploads/${id}`, {
      method: "DELETE",
      headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${owner.token}` },
    });
    expect(deleted.status).toBe(204);
    expect(await server.database.query("select id from uploads where id = $1", [id])).toEqual([]);
    expect(await readdir(join(server.config.dataDir, "uploads"))).not.toContain(id);
  });

  it("refuses any change to a committed version, even in SQL", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    await commitFiles(server, owner.token, dataset.id, { "f.txt": Buffer.from("f"), "g.txt": Buffer.from("g") });
    await commitFiles(server, owner.token, dataset.id, { "f.txt": null });
    const [row] = await server.database.query<{ sha256: string }>("select sha256 from version_files where dataset_id = $1 limit 1", [dataset.id]);
    const refused = (statement: string) => expect(server.database.query(statement, [dataset.id])).rejects.toThrow(/immutable/);
    await refused("update version_files set size = 0 where dataset_id = $1");
    await refused("update version_files set path = 'h.txt' where dataset_id = $1 and path = 'g.txt'");
    // Reopening f.txt's closed row (adding it back to version 2), or closing g.txt's (taking it from version 2).
    await refused("update version_files set last_version = null where dataset_id = $1 and path = 'f.txt'");
    await refused("update version_files set last_version = 1 where dataset_id = $1 and path = 'g.txt'");
    await refused(
      `insert into version_files (dataset_id, first_version, path, sha256, size, content_type) values ($1, 2, 'new.txt', '${row!.sha256}', 1, 'text/plain')`,
    );
    await refused(
      `insert into version_files (dataset_id, first_version, path, sha256, size, content_type) values ($1, 1, 'old.txt', '${row!.sha256}', 1, 'text/plain')`,
    );
    await refused("delete from version_files where dataset_id = $1 and path = 'g.txt'");
    await refused("update dataset_versions set message = 'x' where dataset_id = $1");
    const listed = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { v1: version(number: 1) { files { path } } v2: version(number: 2) { files { path } } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(listed.data.dataset).toEqual({ v1: { files: [{ path: "f.txt" }, { path: "g.txt" }] }, v2: { files: [{ path: "g.txt" }] } });
  });
});

describe("file counts", () => {
  it("refuses a commit of more than 10,000 changes, naming input.changes", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const changes = Array.from({ length: 10_001 }, (_, index) => ({ path: `f${index}`, uploadId: null }));
    const response = await server.graphql(
      `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number } }`,
      { input: { datasetId: dataset.id, changes } },
      { token: owner.token },
    );
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.changes" });
  });

  it("charges files by their count: one 10,000-file version is read, a second in the same request is REQUEST_TOO_EXPENSIVE unread", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    await commitFiles(server, owner.token, dataset.id, { "seed.txt": Buffer.from("seed") });
    const [seeded] = await server.database.query<{ sha256: string }>("select sha256 from version_files where dataset_id = $1", [dataset.id]);
    // Two versions of 10,000 files each (as 10,000 uploads would make them).
    await seedVersion(server, dataset.id, seeded!.sha256, 10_000, { replaceAll: true });
    await seedVersion(server, dataset.id, seeded!.sha256, 10_000, { prefix: "g", replaceAll: true });
    const one = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { version(number: 2) { files { path downloadUrl } } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(one.errors).toBeUndefined();
    expect(one.data.dataset.version.files).toHaveLength(10_000);
    // Its cost counts each file: 1 + 1 + 20 assumed by the static analysis, and the 9,980 past them.
    expect(one.extensions?.cost).toBe(22 + 9_980);

    const two = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { a: version(number: 2) { files { path downloadUrl } } b: version(number: 3) { files { path downloadUrl } } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(two.errors?.map((error) => error.extensions)).toEqual([
      expect.objectContaining({ code: "REQUEST_TOO_EXPENSIVE", limit: "MAX_COST", cost: 43 + 2 * 9_980 }),
    ]);
    const lists = [two.data.dataset.a, two.data.dataset.b];
    expect(lists.filter((version) => version === null)).toHaveLength(1);
    expect(lists.find((version) => version !== null).files).toHaveLength(10_000);
    // The whole history in one request is refused the same way.
    const all = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { versions(first: 3) { nodes { files { path } } } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(all.errors?.[0]?.extensions).toMatchObject({ code: "REQUEST_TOO_EXPENSIVE", limit: "MAX_COST" });
  });

  it("keeps an ordinary page of datasets with their files within the cost, and weighs what each file selects", async () => {
    const owner = await createUser(server);
    const datasets = [];
    for (let index = 0; index < 5; index += 1) {
      const dataset = await createDataset(server, owner);
      if (index === 0) await commitFiles(server, owner.token, dataset.id, { "seed.txt": Buffer.from("seed") });
      datasets.push(dataset);
    }
    const [seeded] = await server.database.query<{ sha256: string }>("select sha256 from version_files where dataset_id = $1", [datasets[0]!.id]);
    for (const dataset of datasets.slice(1)) await seedVersion(server, dataset.id, seeded!.sha256, 300);
    await seedVersion(server, datasets[0]!.id, seeded!.sha256, 299);
    const page = await server.graphql(
      `{ datasets(first: 20) { nodes { latestVersion { files { path downloadUrl } } } } }`,
      {},
      { token: owner.token },
    );
    expect(page.errors).toBeUndefined();
    expect(page.data.datasets.nodes.map((node: UntypedData) => node.latestVersion.files.length)).toEqual([300, 300, 300, 300, 300]);
    // 1 + 20 × (1 + 1 + 20 × 1) statically, and 280 more files for each of the five versions.
    expect(page.extensions?.cost).toBe(441 + 5 * 280);

    // Previews of 100 rows for each of 300 files: 280 × 102 past the static cost, refused unread.
    const previews = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { files { path preview { rows(first: 100) } } } } }`,
      { id: datasets[1]!.id },
      { token: owner.token },
    );
    expect(previews.errors?.[0]?.extensions).toMatchObject({ code: "REQUEST_TOO_EXPENSIVE", limit: "MAX_COST" });
    expect(previews.data.dataset.latestVersion).toBeNull();
  });
});
