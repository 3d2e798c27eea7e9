import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser } from "./support/factories.js";
import { commit, commitFiles, eventually, sha256, tusCreate, tusPatch, upload, uploadIdOf } from "./support/files.js";
import { STORAGE_KINDS, startServerOn, type ServerOnStorage } from "./support/storages.js";
import type { TestServer } from "./support/server.js";

/**
 * Every staged or stored byte counts against its user from the moment it is written, whatever
 * request wrote it; a user holds a bounded number of unfinished uploads; and no answer or quota
 * figure tells a user whether someone else holds given bytes.
 */

const ENV = { MAX_FILE_SIZE: "1000", STORAGE_QUOTA: "1000", MAX_UNFINISHED_UPLOADS: "3" };

/** Bytes staged for the user's unfinished uploads, as the staging directory holds them. */
async function stagedBytes(server: TestServer, userId: string): Promise<number> {
  const rows = await server.database.query<{ id: string }>("select id from uploads where user_id = $1 and state = 'receiving'", [userId]);
  let total = 0;
  for (const { id } of rows) total += (await stat(join(server.config.files.uploadDir, id)).catch(() => ({ size: 0 }))).size;
  return total;
}

/** A PATCH whose body arrives in two parts, the second when the test says: the request is in flight in between. */
function patchInTwoParts(server: TestServer, token: string, id: string, first: Buffer, rest: Buffer) {
  let answered!: (status: number) => void;
  const status = new Promise<number>((resolve) => (answered = resolve));
  const req = request(`${server.origin}/uploads/${id}`, {
    method: "PATCH",
    headers: {
      "tus-resumable": "1.0.0",
      authorization: `Bearer ${token}`,
      "content-type": "application/offset+octet-stream",
      "upload-offset": "0",
      "content-length": String(first.length + rest.length),
    },
  });
  req.on("response", (response) => {
    response.resume();
    answered(response.statusCode!);
  });
  req.on("error", () => answered(-1));
  req.write(first);
  return { status, send: () => req.end(rest), abort: () => req.destroy() };
}

describe.each(STORAGE_KINDS)("quota and unfinished uploads, content on %s", (kind) => {
  let on: ServerOnStorage;
  let server: TestServer;
  beforeAll(async () => {
    on = await startServerOn(kind, ENV);
    server = on.server;
  });
  afterAll(() => on?.close());

  it("counts the bytes a deferred-length creation-with-upload carries: the next creation past the quota is refused (413)", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const first = await tusCreate(server, {
      token: owner.token,
      length: "deferred",
      metadata: { datasetId: dataset.id },
      body: Buffer.alloc(900, 1),
    });
    expect(first.status).toBe(201);
    expect(first.headers.get("upload-offset")).toBe("900");
    const second = await tusCreate(server, {
      token: owner.token,
      length: "deferred",
      metadata: { datasetId: dataset.id },
      body: Buffer.alloc(900, 2),
    });
    expect(second.status).toBe(413);
    expect(await second.text()).toMatch(/quota/i);
    const declared = await tusCreate(server, { token: owner.token, length: 200, metadata: { datasetId: dataset.id } });
    expect(declared.status).toBe(413);
    expect(await stagedBytes(server, owner.id)).toBe(900);
    expect(await server.database.query("select id from uploads where user_id = $1", [owner.id])).toHaveLength(1);
  });

  it("counts a PATCH's bytes while they stream in, before the request ends", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const id = uploadIdOf(await tusCreate(server, { token: owner.token, length: "deferred", metadata: { datasetId: dataset.id } }));
    const patch = patchInTwoParts(server, owner.token, id, Buffer.alloc(300, 3), Buffer.alloc(300, 4));
    await eventually(async () => (await stat(join(server.config.files.uploadDir, id))).size === 300, "the first part is staged");
    // 600 bytes are on their way into this upload: 500 more do not fit in 1,000.
    const during = await tusCreate(server, { token: owner.token, length: 500, metadata: { datasetId: dataset.id } });
    expect(during.status).toBe(413);
    patch.send();
    expect(await patch.status).toBe(204);
    expect(await stagedBytes(server, owner.id)).toBe(600);
    // Once the request ended, what it did not use is free again: 400 fit.
    expect((await tusCreate(server, { token: owner.token, length: 400, metadata: { datasetId: dataset.id } })).status).toBe(201);
  });

  it("stops a PATCH still streaming when its upload is terminated (404): no byte goes on arriving, counted by no one", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const id = uploadIdOf(await tusCreate(server, { token: owner.token, length: "deferred", metadata: { datasetId: dataset.id } }));
    const patch = patchInTwoParts(server, owner.token, id, Buffer.alloc(300, 6), Buffer.alloc(300, 7));
    await eventually(async () => (await stat(join(server.config.files.uploadDir, id))).size === 300, "the first part is staged");
    const terminated = await fetch(`${server.origin}/uploads/${id}`, {
      method: "DELETE",
      headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${owner.token}` },
    });
    expect(terminated.status).toBe(204);
    // The rest of the body is never sent: the answer comes without it.
    const answer = await Promise.race([patch.status, new Promise((resolve) => setTimeout(() => resolve("no answer within 20 s"), 20_000))]);
    expect(answer).toBe(404);
    patch.abort();
  });

  it("refuses a creation past MAX_UNFINISHED_UPLOADS (429, saying so); a finished upload no longer counts", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const create = () => tusCreate(server, { token: owner.token, length: 10, metadata: { datasetId: dataset.id } });
    const ids = [];
    for (let index = 0; index < 3; index += 1) ids.push(uploadIdOf(await create()));
    const refused = await create();
    expect(refused.status).toBe(429);
    expect(await refused.text()).toMatch(/MAX_UNFINISHED_UPLOADS/);
    expect((await tusCreate(server, { token: owner.token, length: "deferred", metadata: { datasetId: dataset.id } })).status).toBe(429);
    expect((await tusPatch(server, owner.token, ids[0]!, 0, Buffer.alloc(10, 5))).status).toBe(204);
    expect((await create()).status).toBe(201);
    expect(await server.database.query("select id from uploads where user_id = $1", [owner.id])).toHaveLength(4);
  });

  it("stores a finished upload's bytes even when the same content is stored already (the same work whoever holds it)", async () => {
    const [alice, bob] = [await createUser(server), await createUser(server)];
    const [a, b] = [await createDataset(server, alice), await createDataset(server, bob)];
    const content = randomBytes(500);
    await commitFiles(server, alice.token, a.id, { "alice.bin": content });
    // Behind the server's back, the stored object changes: only a finish that writes the bytes again restores it.
    await on.overwriteObject(sha256(content), Buffer.from("not the content"));
    await upload(server, bob.token, b.id, content);
    expect(await on.objectBytes(sha256(content))).toEqual(content);
  });
});

describe("answers that could tell what others hold, content on disk", () => {
  let on: ServerOnStorage;
  let server: TestServer;
  beforeAll(async () => {
    on = await startServerOn("disk", ENV);
    server = on.server;
  });
  afterAll(() => on?.close());

  it("gives the same answer whether or not the owner holds the bytes elsewhere, and names no figure of the owner's", async () => {
    const [owner, editor] = [await createUser(server), await createUser(server)];
    const secret = randomBytes(400);
    // The owner's private dataset, which the editor cannot see, holds `secret`: 800 of 1,000 bytes are used.
    const hidden = await createDataset(server, owner);
    await commitFiles(server, owner.token, hidden.id, { "secret.bin": secret, "other.bin": randomBytes(400) });
    const shared = await createDataset(server, owner);
    const shareAnswer = await server.graphql(
      `mutation($d: ID!, $u: String!) { shareDataset(datasetId: $d, username: $u, role: EDITOR) { role } }`,
      { d: shared.id, u: editor.username },
      { token: owner.token },
    );
    expect(shareAnswer.errors).toBeUndefined();
    const tryCommit = async (bytes: Buffer) => {
      const uploadId = await upload(server, editor.token, shared.id, bytes);
      const answer = await commit(server, editor.token, { datasetId: shared.id, changes: [{ path: "probe.bin", uploadId }] });
      await fetch(`${server.origin}/uploads/${uploadId}`, {
        method: "DELETE",
        headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${editor.token}` },
      });
      return answer.errors?.map((error) => ({ code: error.extensions.code, message: error.message }));
    };
    const held = await tryCommit(secret);
    const fresh = await tryCommit(randomBytes(400));
    expect(fresh?.map((error) => error.code)).toEqual(["QUOTA_EXCEEDED"]);
    expect(held).toEqual(fresh);
    expect(fresh![0]!.message).not.toMatch(/200|800/);
  });

  it("answers deleteDataset without waiting for its content to leave storage (how long that takes depends on who else holds it)", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const content = randomBytes(300);
    await commitFiles(server, owner.token, dataset.id, { "c.bin": content });
    // Storage that cannot remove the object: a directory stands where its file was.
    const path = join(server.config.dataDir, "files", sha256(content).slice(0, 2), sha256(content).slice(2, 4), sha256(content));
    await rm(path);
    await mkdir(join(path, "stuck"), { recursive: true });
    const answer = await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, { token: owner.token });
    expect(answer.errors).toBeUndefined();
    expect(answer.data.deleteDataset).toBe(dataset.id);
    await rm(path, { recursive: true });
  });
});
