import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { finishPauses } from "../src/uploads/finish.js";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
import { sha256, tusCreate, tusPatch, uploadIdOf } from "./support/files.js";
import { LogCapture, type TestServer } from "./support/server.js";
import { STORAGE_KINDS, startServerOn, type ServerOnStorage } from "./support/storages.js";

/**
 * deleteDataset landing while the last PATCH of one of its uploads is being finished. The
 * finisher is held at a point (finishPauses) while the dataset goes, then let go: what a real
 * race does by chance, every time.
 */

/** Holds the finish of upload `id` at `point` until `release`; `reached` resolves once it is held there. */
function holdFinish(point: keyof typeof finishPauses, id: string) {
  let reached!: () => void;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (reached = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  finishPauses[point] = async (uploadId) => {
    if (uploadId !== id) return;
    reached();
    await gate;
  };
  return { reached: held, release };
}

describe.each(STORAGE_KINDS)("a dataset deleted while its upload finishes, content on %s", (kind) => {
  let on: ServerOnStorage;
  let server: TestServer;
  const logs = new LogCapture();
  beforeAll(async () => {
    on = await startServerOn(kind, {}, logs);
    server = on.server;
  });
  afterAll(() => on?.close());
  afterEach(() => {
    delete finishPauses.beforeDigest;
    delete finishPauses.beforeMove;
  });

  const errorLines = () => logs.lines.filter((line) => line.level >= 50);
  const deleteDataset = async (owner: TestUser, id: string) => {
    const answer = await server.graphql(`mutation($id: ID!) { deleteDataset(id: $id) }`, { id }, { token: owner.token });
    expect(answer.errors).toBeUndefined();
  };

  /**
   * An upload's only PATCH, held by the finisher at `stage` while its dataset is deleted, then
   * let go: its answer, its bytes and id, and the error lines logged meanwhile.
   */
  const deleteWhileFinishing = async (stage: Parameters<typeof holdFinish>[0], size: number) => {
    const owner = await createUser(server);
    const dataset = await createDataset(server, owner);
    const bytes = randomBytes(size);
    const id = uploadIdOf(await tusCreate(server, { token: owner.token, length: bytes.length, metadata: { datasetId: dataset.id } }));
    const hold = holdFinish(stage, id);
    const before = errorLines().length;
    const patch = tusPatch(server, owner.token, id, 0, bytes);
    await hold.reached;
    await deleteDataset(owner, dataset.id);
    hold.release();
    const answer = await patch;
    return { answer, bytes, id, errorsLogged: () => errorLines().slice(before) };
  };

  it("answers the last PATCH 404 when the dataset went before its bytes were hashed, logging no error", async () => {
    const { answer, bytes, id, errorsLogged } = await deleteWhileFinishing("beforeDigest", 2000);
    expect(answer.status).toBe(404);
    expect(await answer.text()).toMatch(/not found/i);
    expect(errorsLogged()).toEqual([]);
    expect(await readdir(server.config.files.uploadDir)).not.toContain(id);
    expect(await on.objectBytes(sha256(bytes))).toBeNull();
  });

  it("leaves no bytes in storage when the dataset went between the blob row and the move of the bytes", async () => {
    // Held while finalizing, its blob row made: the delete cascades the upload and collects the row.
    const { answer, bytes, errorsLogged } = await deleteWhileFinishing("beforeMove", 3000);
    expect(answer.status).toBe(404);
    expect(await on.objectBytes(sha256(bytes))).toBeNull();
    expect(await server.database.query("select sha256 from blobs where sha256 = $1", [sha256(bytes)])).toEqual([]);
    expect(errorsLogged()).toEqual([]);
  });
});
