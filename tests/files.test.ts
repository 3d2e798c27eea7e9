import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser } from "./support/factories.js";
import { commit, commitFiles, download, sha256, tusCreate, tusHead, tusPatch, upload, uploadIdOf } from "./support/files.js";
import { startServer, type TestServer } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

describe("uploads, versions and downloads", () => {
  it("uploads a CSV, commits it as version 1, and downloads the same bytes", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const csv = Buffer.from("id,name\n1,alpha\n2,beta\n");
    const version = await commitFiles(server, owner.token, dataset.id, { "data/train.csv": csv });
    expect(version).toMatchObject({ number: 1, fileCount: 1, totalSize: csv.length, author: { id: owner.id } });
    expect(version.files).toEqual([
      expect.objectContaining({ path: "data/train.csv", size: csv.length, sha256: sha256(csv), contentType: "text/csv" }),
    ]);
    const response = await download(server, owner.token, dataset.id, 1, "data/train.csv");
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe(`"${sha256(csv)}"`);
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="train.csv"');
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(Buffer.from(await response.arrayBuffer())).toEqual(csv);

    const signed = await fetch(version.files[0].downloadUrl);
    expect(signed.status).toBe(200);
    expect(Buffer.from(await signed.arrayBuffer())).toEqual(csv);
  });

  it("keeps version 1 unchanged when version 2 adds a file and removes the first", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const first = Buffer.from("a,b\n1,2\n");
    const second = randomBytes(5000);
    await commitFiles(server, owner.token, dataset.id, { "first.csv": first });
    const v2 = await commitFiles(server, owner.token, dataset.id, { "second.bin": second, "first.csv": null }, 1);
    expect(v2).toMatchObject({ number: 2, fileCount: 1, totalSize: 5000 });
    expect(v2.files.map((file: { path: string }) => file.path)).toEqual(["second.bin"]);
    expect((await download(server, owner.token, dataset.id, 2, "first.csv")).status).toBe(404);
    const old = await download(server, owner.token, dataset.id, 1, "first.csv");
    expect(Buffer.from(await old.arrayBuffer())).toEqual(first);
    const latest = await download(server, owner.token, dataset.id, "latest", "second.bin");
    expect(Buffer.from(await latest.arrayBuffer())).toEqual(second);

    const listed = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { number } version(number: 1) { number files { path } } files { path }
         versions(first: 1) { totalCount nodes { number } pageInfo { hasNextPage endCursor } } } }`,
      { id: dataset.id },
      { token: owner.token },
    );
    expect(listed.errors).toBeUndefined();
    expect(listed.data.dataset).toMatchObject({
      latestVersion: { number: 2 },
      version: { number: 1, files: [{ path: "first.csv" }] },
      files: [{ path: "second.bin" }],
      versions: { totalCount: 2, nodes: [{ number: 2 }], pageInfo: { hasNextPage: true } },
    });
    const next = await server.graphql(
      `query($id: ID!, $after: String) { dataset(id: $id) { versions(first: 5, after: $after) { nodes { number } pageInfo { hasNextPage } } } }`,
      { id: dataset.id, after: listed.data.dataset.versions.pageInfo.endCursor },
      { token: owner.token },
    );
    expect(next.data.dataset.versions).toEqual({ nodes: [{ number: 1 }], pageInfo: { hasNextPage: false } });
  });

  it("resumes an upload interrupted at about 40% from the offset HEAD reports", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const bytes = randomBytes(1024 * 1024);
    const created = await tusCreate(server, { token: owner.token, length: bytes.length, metadata: { datasetId: dataset.id, sha256: sha256(bytes) } });
    expect(created.status).toBe(201);
    const id = uploadIdOf(created);
    const cut = Math.floor(bytes.length * 0.4);
    expect((await tusPatch(server, owner.token, id, 0, bytes.subarray(0, cut))).status).toBe(204);
    const head = await tusHead(server, owner.token, id);
    expect(head.headers.get("upload-offset")).toBe(String(cut));
    const rest = await tusPatch(server, owner.token, id, cut, bytes.subarray(cut));
    expect(rest.status).toBe(204);
    expect(rest.headers.get("upload-offset")).toBe(String(bytes.length));
    const committed = await commit(server, owner.token, { datasetId: dataset.id, changes: [{ path: "blob.bin", uploadId: id }] });
    expect(committed.errors).toBeUndefined();
    expect(committed.data.commitDatasetVersion.files[0].sha256).toBe(sha256(bytes));
  });

  it("answers 423 (retry) rather than complete while the last bytes are still being stored", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const id = await upload(server, owner.token, dataset.id, Buffer.from("a,b\n"));
    // The state between the last byte and the bytes' arrival in the blob store (finish.ts).
    await server.database.query("update uploads set state = 'finalizing' where id = $1", [id]);
    const head = await tusHead(server, owner.token, id);
    expect(head.status).toBe(423);
    expect(head.headers.get("retry-after")).toBe("1");
    const committed = await commit(server, owner.token, { datasetId: dataset.id, changes: [{ path: "a.csv", uploadId: id }] });
    expect(committed.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
    await server.database.query("update uploads set state = 'complete' where id = $1", [id]);
    expect((await tusHead(server, owner.token, id)).status).toBe(200);
  });

  it("refuses bytes that do not hash to the sha256 the client gave (460), and keeps nothing", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const bytes = Buffer.from("hello");
    const response = await tusCreate(server, {
      token: owner.token,
      length: bytes.length,
      metadata: { datasetId: dataset.id, sha256: sha256("something else") },
      body: bytes,
    });
    expect(response.status).toBe(460);
    expect(await server.database.query("select id from uploads where user_id = $1", [owner.id])).toEqual([]);
    expect(await server.database.query("select sha256 from blobs where sha256 = $1", [sha256(bytes)])).toEqual([]);
  });

  it("lets exactly one of two commits on the same parent win; the other is CONFLICT and writes nothing", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    await commitFiles(server, owner.token, dataset.id, { "base.txt": Buffer.from("base") });
    const a = await upload(server, owner.token, dataset.id, Buffer.from("a"));
    const b = await upload(server, owner.token, dataset.id, Buffer.from("b"));
    const results = await Promise.all([
      commit(server, owner.token, { datasetId: dataset.id, parentVersion: 1, changes: [{ path: "a.txt", uploadId: a }] }),
      commit(server, owner.token, { datasetId: dataset.id, parentVersion: 1, changes: [{ path: "b.txt", uploadId: b }] }),
    ]);
    const codes = results.map((result) => result.errors?.[0]?.extensions.code ?? "ok").sort();
    expect(codes).toEqual(["CONFLICT", "ok"]);
    const versions = await server.database.query("select number from dataset_versions where dataset_id = $1 order by number", [dataset.id]);
    expect(versions).toEqual([{ number: 1 }, { number: 2 }]);
  });
});
