import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, createUser } from "./support/factories.js";
import { commit, download, tusCreate, tusHead, tusPatch, uploadIdOf } from "./support/files.js";
import { startServer, type TestServer } from "./support/server.js";

/** Holes found in review: each test failed before its fix. */

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ MAX_FILE_SIZE: "2000", STORAGE_QUOTA: "1000" });
});
afterAll(() => server.close());

describe("uploads under abuse", () => {
  it("never lets a query string make tus act on another user's upload", async () => {
    const [alice, mallory] = await Promise.all([createUser(server), createUser(server)]);
    const [a, m] = await Promise.all([createDataset(server, alice), createDataset(server, mallory)]);
    const victim = uploadIdOf(await tusCreate(server, { token: alice.token, length: 9, metadata: { datasetId: a.id } }));
    const own = uploadIdOf(await tusCreate(server, { token: mallory.token, length: 9, metadata: { datasetId: m.id } }));
    const trick = `${server.origin}/uploads/${own}?x=/${victim}`;
    const patched = await fetch(trick, {
      method: "PATCH",
      headers: {
        "tus-resumable": "1.0.0",
        authorization: `Bearer ${mallory.token}`,
        "content-type": "application/offset+octet-stream",
        "upload-offset": "0",
      },
      body: Buffer.from("EVILEVIL!"),
    });
    expect(patched.status).toBe(400);
    expect((await fetch(trick, { method: "HEAD", headers: { "tus-resumable": "1.0.0", authorization: `Bearer ${mallory.token}` } })).status).toBe(
      400,
    );
    expect((await tusHead(server, alice.token, victim)).headers.get("upload-offset")).toBe("0");
  });

  it("refuses bytes once the quota is full, also for a deferred length", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const full = uploadIdOf(await tusCreate(server, { token: owner.token, length: 1000, metadata: { datasetId: dataset.id } }));
    expect((await tusPatch(server, owner.token, full, 0, Buffer.alloc(1000, 1))).status).toBe(204);
    const deferred = await tusCreate(server, { token: owner.token, length: "deferred", metadata: { datasetId: dataset.id } });
    expect(deferred.status).toBe(413);
  });

  it("lets parallel deferred uploads together hold no more than the quota", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const ids = [];
    for (let index = 0; index < 4; index += 1) {
      ids.push(uploadIdOf(await tusCreate(server, { token: owner.token, length: "deferred", metadata: { datasetId: dataset.id } })));
    }
    const results = await Promise.all(
      ids.map((id, index) => tusPatch(server, owner.token, id, 0, Buffer.alloc(900, index + 1), { "upload-length": "900" })),
    );
    const finished = results.filter((response) => response.status === 204).length;
    expect(finished).toBeLessThanOrEqual(1);
    const stored = await server.database.query<{ total: number }>(
      "select coalesce(sum(size), 0)::int as total from uploads where user_id = $1 and state = 'complete'",
      [owner.id],
    );
    expect(stored[0]!.total).toBeLessThanOrEqual(1000);
  });

  it("removes a deleted dataset's unfinished uploads' staged bytes at once", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const id = uploadIdOf(await tusCreate(server, { token: owner.token, length: 500, metadata: { datasetId: dataset.id } }));
    await tusPatch(server, owner.token, id, 0, Buffer.alloc(200, 1));
    expect(await readdir(join(server.config.dataDir, "uploads"))).toContain(id);
    await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id: dataset.id }, { token: owner.token });
    expect(await readdir(join(server.config.dataDir, "uploads"))).not.toContain(id);
  });

  it("answers 404, not 500, to a version number past what an int holds", async () => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    expect((await download(server, owner.token, dataset.id, 9_999_999_999 as number, "x")).status).toBe(404);
    expect((await download(server, owner.token, dataset.id, 2_147_483_648 as number, "x")).status).toBe(404);
    const response = await commit(server, owner.token, { datasetId: dataset.id, changes: [{ path: "x", uploadId: null }] });
    expect(response.errors?.[0]?.extensions.code).toBe("BAD_USER_INPUT");
  });
});
