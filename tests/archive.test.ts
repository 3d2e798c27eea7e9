import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DatasetVersionArchiveDocument } from "../client/generated/graphql.js";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { commitFiles, sha256 } from "./support/files.js";
import { type ServerOnStorage, STORAGE_KINDS, startServerOn } from "./support/storages.js";
import type { TestServer } from "./support/server.js";
import { unzip } from "./support/zip.js";

/**
 * `GET /datasets/{id}/versions/{n}/archive.zip` and `DatasetVersion.archiveUrl`, on disk and
 * on S3 storage: every file of the version, unzipped and checked byte for byte against its
 * SHA-256; compressed formats stored, the rest deflated; the download's authorization; and a
 * storage failure half way breaks the transfer rather than finishing a ZIP without the file.
 */

const FILES: Record<string, Buffer> = {
  "data/table.csv": Buffer.from("id,name\n".concat("1,a fairly repetitive line of text\n".repeat(2000))),
  "data/table.csv.gz": gzipSync(Buffer.from("x,y\n1,2\n".repeat(500))),
  "images/pic.png": randomBytes(100_000),
  "big.bin": randomBytes(1_500_000),
  "empty.txt": Buffer.alloc(0),
  "données/été.txt": Buffer.from("accents"),
};
/** Stored as they are (already compressed); the others are deflated. */
const STORED = new Set(["data/table.csv.gz", "images/pic.png"]);

describe.each(STORAGE_KINDS)("version archives on %s storage", (kind) => {
  let on: ServerOnStorage;
  let server: TestServer;
  let owner: TestUser;
  let viewer: TestUser;
  let stranger: TestUser;
  let datasetId: string;

  const get = (path: string, token?: string, method = "GET") =>
    fetch(`${server.origin}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const archive = (version: number | string, token?: string, method = "GET") =>
    get(`/datasets/${datasetId}/versions/${version}/archive.zip`, token, method);
  const archiveUrl = async (token: string, number: number) => {
    const response = await server.graphql(DatasetVersionArchiveDocument, { id: datasetId, number }, { token });
    expect(response.errors).toBeUndefined();
    return response.data!.dataset!.version!.archiveUrl;
  };

  beforeAll(async () => {
    on = await startServerOn(kind);
    server = on.server;
    [owner, viewer, stranger] = await Promise.all([createUser(server), createUser(server), createUser(server)]);
    datasetId = (await createDataset(server, owner, { name: 'Séries "2024" / final' })).id;
    await commitFiles(server, owner.token, datasetId, FILES);
    const shared = await server.graphql(
      `mutation($d: ID!, $u: String!) { shareDataset(datasetId: $d, username: $u, role: VIEWER) { role } }`,
      { d: datasetId, u: viewer.username },
      { token: owner.token },
    );
    expect(shared.errors).toBeUndefined();
  }, 120_000);
  afterAll(() => on?.close());

  it("holds every file of the version at its path, byte for byte, stored when compressed already and deflated otherwise", async () => {
    const response = await archive(1, owner.token);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/zip");
    // The dataset's name made safe: quotes and the slash are dashes; the accent kept in filename*.
    expect(response.headers.get("content-disposition")).toBe(
      `attachment; filename="Series -2024- - final-v1.zip"; filename*=UTF-8''S%C3%A9ries%20-2024-%20-%20final-v1.zip`,
    );
    const entries = await unzip(Buffer.from(await response.arrayBuffer()));
    expect(entries.map((entry) => entry.name).sort()).toEqual(Object.keys(FILES).sort());
    for (const entry of entries) {
      const bytes = FILES[entry.name]!;
      expect({ name: entry.name, size: entry.size, sha256: entry.sha256, crcMatches: entry.crcMatches }).toEqual({
        name: entry.name,
        size: bytes.length,
        sha256: sha256(bytes),
        crcMatches: true,
      });
      expect(entry.method, entry.name).toBe(STORED.has(entry.name) ? 0 : 8);
    }
    // `latest` is the same version; HEAD says the same without the body.
    const latest = await unzip(Buffer.from(await (await archive("latest", owner.token)).arrayBuffer()));
    expect(latest.map((entry) => entry.sha256).sort()).toEqual(entries.map((entry) => entry.sha256).sort());
    const head = await archive(1, owner.token, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("application/zip");
    expect(await head.text()).toBe("");
  });

  it("is the dataset's to read: a viewer and an admin get it, a stranger 404, anonymous 401, no such version 404", async () => {
    const admin = await createAdmin(server);
    expect((await archive(1, viewer.token)).status).toBe(200);
    expect((await archive(1, admin.token)).status).toBe(200);
    expect((await archive(1, stranger.token)).status).toBe(404);
    expect((await archive(1)).status).toBe(401);
    for (const version of ["2", "0", "-1", "one", "99999999999"]) expect((await archive(version, owner.token)).status, version).toBe(404);
    expect((await get(`/datasets/not-a-uuid/versions/1/archive.zip`, owner.token)).status).toBe(404);
    expect((await get(`/datasets/00000000-0000-4000-8000-000000000000/versions/1/archive.zip`, owner.token)).status).toBe(404);
  });

  it("opens with its signed archiveUrl, for that version only; a file's link does not open it, nor an expired one", async () => {
    const url = await archiveUrl(viewer.token, 1);
    const signed = await fetch(url);
    expect(signed.status).toBe(200);
    expect((await unzip(Buffer.from(await signed.arrayBuffer()))).length).toBe(Object.keys(FILES).length);
    expect((await fetch(url.replace("/versions/1/", "/versions/latest/"))).status).toBe(401);
    expect((await fetch(url.replace(`/datasets/${datasetId}/`, `/datasets/00000000-0000-4000-8000-000000000000/`))).status).toBe(401);
    // A file's link, pointed at the archive, is not an archive link (its kind is signed).
    const files = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { files { path downloadUrl } } }`,
      { id: datasetId },
      { token: viewer.token },
    );
    const fileLink = new URL(files.data.dataset.files[0].downloadUrl);
    fileLink.pathname = `/datasets/${datasetId}/versions/1/archive.zip`;
    expect((await fetch(fileLink)).status).toBe(401);
    // Past its lifetime (DOWNLOAD_URL_TTL): the server's clock moved on, the link untouched.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + (server.config.files.downloadUrlTtlSeconds + 5) * 1000);
      expect((await fetch(url)).status).toBe(401);
    } finally {
      vi.useRealTimers();
    }
    expect((await fetch(url)).status).toBe(200);
    // A stranger's own link: they may not read the dataset, so they get none.
    const strangers = await server.graphql(DatasetVersionArchiveDocument, { id: datasetId, number: 1 }, { token: stranger.token });
    expect(strangers.errors?.[0]?.extensions.code).toBe("NOT_FOUND");
  });

  it("is an empty ZIP for a version without files", async () => {
    const emptied = await createDataset(server, owner);
    await commitFiles(server, owner.token, emptied.id, { "only.txt": Buffer.from("x") });
    await commitFiles(server, owner.token, emptied.id, { "only.txt": null });
    const response = await get(`/datasets/${emptied.id}/versions/2/archive.zip`, owner.token);
    expect(response.status).toBe(200);
    expect(await unzip(Buffer.from(await response.arrayBuffer()))).toEqual([]);
  });

  it("breaks the transfer when a file's content cannot be read in full half way, never finishing a ZIP without it", async () => {
    const broken = await createDataset(server, owner);
    // The first file is large enough that the response has begun before the second is read.
    const first = randomBytes(2_000_000);
    const second = randomBytes(300_000);
    await commitFiles(server, owner.token, broken.id, { "a-first.bin": first, "b-second.bin": second });
    const whole = await get(`/datasets/${broken.id}/versions/1/archive.zip`, owner.token);
    expect((await unzip(Buffer.from(await whole.arrayBuffer()))).length).toBe(2);
    // Storage now holds fewer bytes than the version says.
    await on.overwriteObject(sha256(second), second.subarray(0, 100_000));
    const truncated = await get(`/datasets/${broken.id}/versions/1/archive.zip`, owner.token);
    expect(truncated.status).toBe(200);
    await expect(truncated.arrayBuffer()).rejects.toThrow();
  });

  it("lets a client hang up half way, and goes on serving", async () => {
    const large = await createDataset(server, owner);
    await commitFiles(server, owner.token, large.id, { "a.bin": randomBytes(3_000_000), "b.bin": randomBytes(3_000_000) });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const response = await get(`/datasets/${large.id}/versions/1/archive.zip`, owner.token);
      const reader = response.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      await reader.cancel();
    }
    const whole = await get(`/datasets/${large.id}/versions/1/archive.zip`, owner.token);
    expect((await unzip(Buffer.from(await whole.arrayBuffer()))).map((entry) => entry.name)).toEqual(["a.bin", "b.bin"]);
  });

  it.runIf(kind === "disk")("breaks the transfer when a file's content is gone from storage", async () => {
    const gone = await createDataset(server, owner);
    const second = randomBytes(1000);
    await commitFiles(server, owner.token, gone.id, { "a-first.bin": randomBytes(2_000_000), "b-second.bin": second });
    const hash = sha256(second);
    await rm(join(server.config.dataDir, "files", hash.slice(0, 2), hash.slice(2, 4), hash));
    const response = await get(`/datasets/${gone.id}/versions/1/archive.zip`, owner.token);
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
    // The server goes on answering.
    expect((await archive(1, owner.token)).status).toBe(200);
  });
});
