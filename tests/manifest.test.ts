import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
import { commit, commitFiles, download, seedVersion, upload } from "./support/files.js";
import { startServer, type TestServer, type UntypedData } from "./support/server.js";

/**
 * Version file lists as a manifest (migrations/011): a commit writes rows for what it
 * changes, every version's list stays what it was, and what versions cost the database is
 * bounded per user (METADATA_QUOTA).
 */

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ METADATA_QUOTA: "20000" });
});
afterAll(() => server.close());

const rowsOf = async (datasetId: string) =>
  (await server.database.query<{ rows: number }>("select count(*)::int as rows from version_files where dataset_id = $1", [datasetId]))[0]!.rows;

const COMMIT_NUMBER = `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number fileCount } }`;

/** Every version of the dataset as the API lists it: number to its files (path, sha256, size, content type). */
async function allVersions(owner: TestUser, datasetId: string): Promise<Map<number, UntypedData>> {
  const response = await server.graphql(
    `query($id: ID!) { dataset(id: $id) { versions(first: 100) { nodes { number fileCount totalSize files { path sha256 size contentType } } } } }`,
    { id: datasetId },
    { token: owner.token },
  );
  expect(response.errors).toBeUndefined();
  return new Map(response.data.dataset.versions.nodes.map((version: UntypedData) => [version.number, version]));
}

describe("a commit writes rows for what it changes", () => {
  it("writes no row for a one-line removal and one for a replacement or an addition, on a 10,000-file version", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const first = await commitFiles(server, owner.token, dataset.id, { "seed.txt": Buffer.from("seed") });
    // Version 2: 10,000 files f1 … f10000 (seed.txt removed), as 10,000 uploads would make it.
    await seedVersion(server, dataset.id, first.files[0].sha256, 10_000, { replaceAll: true });
    const seeded = await rowsOf(dataset.id);

    const removal = await server.graphql(
      COMMIT_NUMBER,
      { input: { datasetId: dataset.id, changes: [{ path: "f1", uploadId: null }] } },
      { token: owner.token },
    );
    expect(removal.errors).toBeUndefined();
    expect(removal.data.commitDatasetVersion).toEqual({ number: 3, fileCount: 9_999 });
    expect(await rowsOf(dataset.id)).toBe(seeded);

    const replacement = await upload(server, owner.token, dataset.id, Buffer.from("new f2"));
    const replaced = await server.graphql(
      COMMIT_NUMBER,
      { input: { datasetId: dataset.id, changes: [{ path: "f2", uploadId: replacement }] } },
      { token: owner.token },
    );
    expect(replaced.data.commitDatasetVersion).toEqual({ number: 4, fileCount: 9_999 });
    expect(await rowsOf(dataset.id)).toBe(seeded + 1);

    const addition = await upload(server, owner.token, dataset.id, Buffer.from("one more"));
    const added = await server.graphql(
      COMMIT_NUMBER,
      { input: { datasetId: dataset.id, changes: [{ path: "more/one.txt", uploadId: addition }] } },
      { token: owner.token },
    );
    expect(added.data.commitDatasetVersion).toEqual({ number: 5, fileCount: 10_000 });
    expect(await rowsOf(dataset.id)).toBe(seeded + 2);

    // Each version still serves what it held.
    expect(await (await download(server, owner.token, dataset.id, 3, "f2")).text()).toBe("seed");
    expect(await (await download(server, owner.token, dataset.id, 4, "f2")).text()).toBe("new f2");
    expect((await download(server, owner.token, dataset.id, 3, "f1")).status).toBe(404);
    expect((await download(server, owner.token, dataset.id, 2, "f1")).status).toBe(200);
    expect((await download(server, owner.token, dataset.id, 4, "more/one.txt")).status).toBe(404);
    expect(await (await download(server, owner.token, dataset.id, "latest", "more/one.txt")).text()).toBe("one more");
    // A version past the latest holds nothing, though the latest's files are still "open".
    expect((await download(server, owner.token, dataset.id, 6, "f3")).status).toBe(404);
    // One version's whole list per request (the files' cost allows one).
    const counts = [];
    for (let number = 1; number <= 5; number += 1) {
      const response = await server.graphql(
        `query($id: ID!, $n: Int!) { dataset(id: $id) { version(number: $n) { fileCount files { path } } } }`,
        { id: dataset.id, n: number },
        { token: owner.token },
      );
      expect(response.errors).toBeUndefined();
      counts.push([response.data.dataset.version.fileCount, response.data.dataset.version.files.length]);
    }
    expect(counts).toEqual([
      [1, 1],
      [10_000, 10_000],
      [9_999, 9_999],
      [9_999, 9_999],
      [10_000, 10_000],
    ]);
  }, 60_000);

  it("never changes a version's list after its commit: removed, replaced, re-added and put back paths", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const bytes = { A: Buffer.from("content A"), B: Buffer.from("content B"), B2: Buffer.from("content B, second"), C: Buffer.from("C") };
    const steps: Array<Record<string, Buffer | null>> = [
      { "a.txt": bytes.A, "b.txt": bytes.B, "c.txt": bytes.C, "d/e.txt": bytes.C },
      { "a.txt": null },
      { "b.txt": bytes.B2 },
      { "a.txt": bytes.A },
      // b.txt back to its first content, c.txt "replaced" by the very same bytes, d/e.txt gone.
      { "b.txt": bytes.B, "c.txt": bytes.C, "d/e.txt": null },
      // A file where the folder d/ was, and a.txt removed again.
      { d: bytes.B2, "a.txt": null },
    ];
    const expected = new Map<string, Buffer>();
    const seen = new Map<number, UntypedData>();
    for (const [index, step] of steps.entries()) {
      await commitFiles(server, owner.token, dataset.id, step, index);
      for (const [path, content] of Object.entries(step)) {
        if (content === null) expected.delete(path);
        else expected.set(path, content);
      }
      const versions = await allVersions(owner, dataset.id);
      const latest = versions.get(index + 1);
      expect(latest.files.map((file: UntypedData) => file.path)).toEqual([...expected.keys()].sort());
      for (const file of latest.files)
        expect(await (await download(server, owner.token, dataset.id, index + 1, file.path)).text()).toBe(expected.get(file.path)!.toString());
      seen.set(index + 1, latest);
      // Every earlier version reads exactly as it did right after its own commit.
      for (const [number, version] of seen) expect(versions.get(number)).toEqual(version);
    }
    expect((await download(server, owner.token, dataset.id, 2, "a.txt")).status).toBe(404);
    expect(await (await download(server, owner.token, dataset.id, 4, "a.txt")).text()).toBe("content A");
    expect(await (await download(server, owner.token, dataset.id, 1, "d/e.txt")).text()).toBe("C");
  }, 60_000);
});

describe("what versions cost the database (METADATA_QUOTA)", () => {
  const metadataBytes = async (datasetId: string) =>
    (await server.database.query<{ bytes: number }>("select metadata_bytes::float8 as bytes from datasets where id = $1", [datasetId]))[0]!.bytes;

  it("counts each version, its message and its new file rows against the owner, and refuses a commit past it, writing nothing", async () => {
    const owner = await createUser(server);
    const editor = await createUser(server);
    const dataset = await createDataset(server, owner);
    await commitFiles(server, owner.token, dataset.id, { "a.txt": Buffer.from("a") });
    const message = "m".repeat(10_000);
    const b = await upload(server, owner.token, dataset.id, Buffer.from("b"));
    expect((await commit(server, owner.token, { datasetId: dataset.id, message, changes: [{ path: "b.txt", uploadId: b }] })).errors).toBeUndefined();
    // 424 (128 for the version; 256 + 6 × 5 for the path + 10 for text/plain for its file row),
    // then 10,424 (the same, with a message of 10,000 bytes): 10,848 of 20,000 used.
    const used = 424 + 10_424;

    // Another 10,424 do not fit.
    const c = await upload(server, owner.token, dataset.id, Buffer.from("c"));
    const rows = await rowsOf(dataset.id);
    const over = await commit(server, owner.token, { datasetId: dataset.id, message, changes: [{ path: "c.txt", uploadId: c }] });
    expect(over.errors?.map((error) => error.extensions)).toEqual([
      expect.objectContaining({ code: "QUOTA_EXCEEDED", quota: "METADATA_QUOTA", used, needed: 10_424, allowed: 20_000 }),
    ]);
    expect(await metadataBytes(dataset.id)).toBe(used);
    expect(await rowsOf(dataset.id)).toBe(rows);
    expect(await server.database.query("select id from uploads where id = $1", [c])).toHaveLength(1);
    const latest = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { number fileCount } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(latest.data.dataset.latestVersion).toEqual({ number: 2, fileCount: 2 });

    // An editor's commit counts against the owner, whatever the editor has used.
    const shared = await server.graphql(
      `mutation($d: ID!, $u: String!) { shareDataset(datasetId: $d, username: $u, role: EDITOR) { role } }`,
      { d: dataset.id, u: editor.username },
      { token: owner.token },
    );
    expect(shared.errors).toBeUndefined();
    const byEditor = await commit(server, editor.token, { datasetId: dataset.id, message, changes: [{ path: "b.txt", uploadId: null }] });
    expect(byEditor.errors?.[0]?.extensions).toMatchObject({ code: "QUOTA_EXCEEDED", quota: "METADATA_QUOTA" });
    // A short one fits: a removal writes the version row only.
    const removal = await commit(server, editor.token, { datasetId: dataset.id, message: "tidy", changes: [{ path: "b.txt", uploadId: null }] });
    expect(removal.errors).toBeUndefined();
    expect(await metadataBytes(dataset.id)).toBe(used + 128 + 4);

    // Deleting the dataset gives its count back.
    const deleted = await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, { token: owner.token });
    expect(deleted.errors).toBeUndefined();
    const next = await createDataset(server, owner);
    await commitFiles(server, owner.token, next.id, { "c.txt": Buffer.from("c") });
    const again = await upload(server, owner.token, next.id, Buffer.from("d"));
    expect(
      (await commit(server, owner.token, { datasetId: next.id, message, changes: [{ path: "d.txt", uploadId: again }] })).errors,
    ).toBeUndefined();
  }, 60_000);
});
