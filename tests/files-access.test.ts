import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdmin, createDataset, createUser, type TestUser } from "./support/factories.js";
import { commit, commitFiles, download, tusCreate, tusHead, tusPatch, upload, uploadIdOf } from "./support/files.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * Who may upload, commit and download: the owner; an admin downloads any but commits only
 * their own (403 / FORBIDDEN: they may read it); anyone else gets 404. Collaborators' roles:
 * tests/sharing.test.ts.
 */

let server: TestServer;
let owner: TestUser;
let stranger: TestUser;
let admin: TestUser;
let datasetId: string;
const bytes = Buffer.from("x,y\n1,2\n");

beforeAll(async () => {
  server = await startServer({ DOWNLOAD_URL_TTL: "10" });
  [owner, stranger] = await Promise.all([createUser(server), createUser(server)]);
  admin = await createAdmin(server);
  datasetId = (await createDataset(server, owner)).id;
  await commitFiles(server, owner.token, datasetId, { "table.csv": bytes });
});
afterAll(() => server.close());

describe("file access", () => {
  it("refuses an anonymous upload with 401, a creation for another's dataset with 404 (an admin's: 403), storing nothing", async () => {
    expect((await tusCreate(server, { length: 3, metadata: { datasetId } })).status).toBe(401);
    const foreign = await tusCreate(server, { token: stranger.token, length: bytes.length, metadata: { datasetId }, body: bytes });
    expect(foreign.status).toBe(404);
    const byAdmin = await tusCreate(server, { token: admin.token, length: bytes.length, metadata: { datasetId }, body: bytes });
    expect(byAdmin.status).toBe(403);
    expect(await server.database.query("select id from uploads where user_id = any($1)", [[stranger.id, admin.id]])).toEqual([]);
  });

  it("answers 404 to another user's PATCH, HEAD and DELETE of an upload, which stays as it was", async () => {
    const created = await tusCreate(server, { token: owner.token, length: 10, metadata: { datasetId } });
    const id = uploadIdOf(created);
    expect((await tusPatch(server, stranger.token, id, 0, Buffer.from("0123456789"))).status).toBe(404);
    expect((await tusHead(server, stranger.token, id)).status).toBe(404);
    const del = await fetch(`${server.origin}/uploads/${id}`, {
      method: "DELETE",
      headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${stranger.token}` },
    });
    expect(del.status).toBe(404);
    expect((await tusHead(server, owner.token, id)).headers.get("upload-offset")).toBe("0");
  });

  it("refuses a commit to another's dataset as NOT_FOUND, and an admin's as FORBIDDEN", async () => {
    const uploadId = await upload(server, owner.token, datasetId, Buffer.from("more"));
    for (const [user, code] of [
      [stranger, "NOT_FOUND"],
      [admin, "FORBIDDEN"],
    ] as const) {
      const response = await commit(server, user.token, { datasetId, changes: [{ path: "more.txt", uploadId }] });
      expect(response.errors?.[0]?.extensions.code).toBe(code);
    }
    const mine = await commit(server, stranger.token, { datasetId: (await createDataset(server, stranger)).id, changes: [{ path: "x", uploadId }] });
    expect(mine.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.changes[0].uploadId" });
  });

  it("lets an admin download any dataset's files, and nobody else", async () => {
    expect((await download(server, admin.token, datasetId, 1, "table.csv")).status).toBe(200);
    expect((await download(server, stranger.token, datasetId, 1, "table.csv")).status).toBe(404);
    expect((await download(server, stranger.token, datasetId, 1, "absent.csv")).status).toBe(404);
    expect((await download(server, undefined, datasetId, 1, "table.csv")).status).toBe(401);
    const version = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { number } } }`,
      { id: datasetId },
      { token: stranger.token },
    );
    expect(version.errors?.[0]?.extensions.code).toBe("NOT_FOUND");
  });

  it("serves a single Range as 206 with exactly those bytes, 416 past the end, HEAD and If-None-Match", async () => {
    const ranged = await download(server, owner.token, datasetId, 1, "table.csv", { range: "bytes=2-5" });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 2-5/${bytes.length}`);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(bytes.subarray(2, 6));
    const suffix = await download(server, owner.token, datasetId, 1, "table.csv", { range: "bytes=-3" });
    expect(Buffer.from(await suffix.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 3));
    const past = await download(server, owner.token, datasetId, 1, "table.csv", { range: `bytes=${bytes.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${bytes.length}`);
    const head = await download(server, owner.token, datasetId, 1, "table.csv", {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    const etag = head.headers.get("etag")!;
    expect((await download(server, owner.token, datasetId, 1, "table.csv", { "if-none-match": etag })).status).toBe(304);
  });

  it("makes signed links that need no token, die with the session and expire", async () => {
    const login = async () => {
      const response = await server.graphql(`mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`, {
        input: { email: owner.email, password: owner.password },
      });
      return response.data.login as { accessToken: string; refreshToken: string };
    };
    const session = await login();
    const files = await server.graphql(
      `query($id: ID!) { dataset(id: $id) { files { downloadUrl } } }`,
      { id: datasetId },
      { token: session.accessToken },
    );
    const url: string = files.data.dataset.files[0].downloadUrl;
    expect((await fetch(url)).status).toBe(200);
    const tampered = url.replace("/files/table.csv", "/files/other.csv");
    expect((await fetch(tampered)).status).toBe(401);
    await server.graphql(
      `mutation($token: String!) { logout(refreshToken: $token) }`,
      { token: session.refreshToken },
      { token: session.accessToken },
    );
    expect((await fetch(url)).status).toBe(401);

    const expired = new URL(url);
    expired.searchParams.set("expires", String(Math.floor(Date.now() / 1000) - 1));
    expect((await fetch(expired)).status).toBe(401);
  });

  it("refuses paths with .., a leading /, a backslash, an empty segment or a control character, naming the change", async () => {
    const uploadId = await upload(server, owner.token, datasetId, Buffer.from("p"));
    for (const path of ["../etc/passwd", "a/../b", "/abs", "a\\b", "a//b", "a/", "", "a\u0001b", "\u202Egnp.exe", "x".repeat(1025)]) {
      const response = await commit(server, owner.token, {
        datasetId,
        changes: [
          { path: "ok.txt", uploadId: null },
          { path, uploadId },
        ],
      });
      expect(response.errors?.[0]?.extensions, JSON.stringify(path)).toMatchObject({ code: "BAD_USER_INPUT", field: "input.changes[1].path" });
    }
    const versions = await server.database.query("select count(*)::int as n from dataset_versions where dataset_id = $1", [datasetId]);
    expect(versions).toEqual([{ n: 1 }]);
  });
});

describe("files from a browser on another origin", () => {
  const origin = "http://localhost:5173"; // one of the development CORS_ORIGINS

  it("answers tus preflights with the methods and headers tus needs, and exposes Location and Upload-Offset", async () => {
    const preflight = await fetch(`${server.origin}/uploads/some-id`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "authorization,tus-resumable,upload-offset,content-type",
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PATCH");
    expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("upload-offset");

    const created = await fetch(`${server.origin}/uploads`, {
      method: "POST",
      headers: {
        origin,
        "tus-resumable": "1.0.0",
        authorization: `Bearer ${owner.token}`,
        "upload-length": "3",
        "upload-metadata": `datasetId ${Buffer.from(datasetId).toString("base64")}`,
      },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("access-control-allow-origin")).toBe(origin);
    const exposed = created.headers.get("access-control-expose-headers")?.toLowerCase() ?? "";
    expect(exposed).toContain("location");
    expect(exposed).toContain("upload-offset");

    const downloaded = await download(server, owner.token, datasetId, 1, "table.csv", { origin });
    expect(downloaded.headers.get("access-control-allow-origin")).toBe(origin);
    expect(downloaded.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("content-disposition");
  });
});
