import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unique } from "./support/factories.js";
import { uploadMetadata } from "./support/files.js";
import { post, type RunningServer, startServerProcess } from "./support/process.js";

/**
 * A version of 300 MiB as one archive, from a server running as its own process, whose
 * memory is read from the kernel (/proc/<pid>/status) before and after: the peak resident
 * size (VmHWM, reset just before the download) may grow by less than 50 MB while the whole
 * archive streams. An archive assembled in memory (or a consumer's slowness ignored) would
 * add hundreds of megabytes.
 *
 * Run on the embedded database only: the database takes no part in streaming (two statements
 * before the first byte), so the PostgreSQL run would measure the same thing again at the cost
 * of another 300 MiB through tus. The files are `.gz`, stored (not deflated) in the ZIP, so the
 * test spends its time moving bytes, not compressing them.
 */

const MIB = 1024 * 1024;
const FILES = 3;
const FILE_SIZE = 100 * MIB;

/** A status line of the process, in bytes (the kernel counts in kB). */
async function memoryOf(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

describe.runIf(!process.env.TEST_DATABASE_URL)("archive memory", () => {
  let dataDir: string;
  let server: RunningServer;
  let token: string;
  let datasetId: string;
  let ENV: Record<string, string>;
  /** A dataset of one small file, whose archive warms the route up. */
  let smallDatasetId: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "archive-memory-"));
    ENV = { DATA_DIR: dataDir, BCRYPT_COST: "4", PREVIEW_WORKERS: "0" };
    server = await startServerProcess(ENV);
    const name = unique("zip");
    const registered = await post(server.url, `mutation($input: RegisterInput!) { register(input: $input) { accessToken } }`, {
      input: { email: `${name}@example.com`, username: name, password: "a long enough secret" },
    });
    token = registered.data.register.accessToken;
    const created = await post(server.url, `mutation { createDataset(input: { name: "large" }) { id } }`, {}, token);
    datasetId = created.data.createDataset.id;
    // 100 MiB each: one random MiB repeated (cheap to make), a byte changed so each is its own content.
    const block = randomBytes(MIB);
    const changes = [];
    for (let index = 0; index < FILES; index += 1) {
      const bytes = Buffer.alloc(FILE_SIZE);
      for (let offset = 0; offset < FILE_SIZE; offset += MIB) block.copy(bytes, offset);
      bytes[0] = index;
      const response = await fetch(`${new URL(server.url).origin}/uploads`, {
        method: "POST",
        headers: {
          "tus-resumable": "1.0.0",
          authorization: `Bearer ${token}`,
          "upload-length": String(FILE_SIZE),
          "upload-metadata": uploadMetadata({ datasetId }),
          "content-type": "application/offset+octet-stream",
        },
        body: bytes,
      });
      expect(response.status, await response.text()).toBe(201);
      changes.push({ path: `part-${index}.gz`, uploadId: response.headers.get("location")!.split("/").at(-1)! });
    }
    const committed = await post(
      server.url,
      `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number totalSize } }`,
      { input: { datasetId, changes } },
      token,
    );
    expect(committed.data.commitDatasetVersion).toEqual({ number: 1, totalSize: FILES * FILE_SIZE });
    smallDatasetId = (await post(server.url, `mutation { createDataset(input: { name: "small" }) { id } }`, {}, token)).data.createDataset.id;
    const small = await fetch(`${new URL(server.url).origin}/uploads`, {
      method: "POST",
      headers: {
        "tus-resumable": "1.0.0",
        authorization: `Bearer ${token}`,
        "upload-length": "6",
        "upload-metadata": uploadMetadata({ datasetId: smallDatasetId }),
        "content-type": "application/offset+octet-stream",
      },
      body: Buffer.from("hello\n"),
    });
    expect(small.status).toBe(201);
    const smallCommit = await post(
      server.url,
      `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number } }`,
      { input: { datasetId: smallDatasetId, changes: [{ path: "hello.txt", uploadId: small.headers.get("location")!.split("/").at(-1)! }] } },
      token,
    );
    expect(smallCommit.data.commitDatasetVersion.number).toBe(1);
    // A fresh process for the measure: memory the uploads used and freed stays with the process
    // (the allocator keeps it), where an archive kept whole could fit unseen. Same data and tokens.
    await server.stop();
    server = await startServerProcess(ENV);
    expect((await post(server.url, `query($id: ID!) { dataset(id: $id) { latestVersion { fileCount } } }`, { id: datasetId }, token)).data).toEqual({
      dataset: { latestVersion: { fileCount: FILES } },
    });
  }, 300_000);
  afterAll(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("streams 300 MiB while the server's peak memory grows by less than 50 MB", async () => {
    const origin = new URL(server.url).origin;
    const pid = server.child.pid!;
    // The route's code is loaded and compiled once, by a first archive of a few bytes (another
    // dataset's, so that nothing of the large one is ever held before the measure): that is not
    // the archive's memory.
    const warmUp = await fetch(`${origin}/datasets/${smallDatasetId}/versions/1/archive.zip`, { headers: { authorization: `Bearer ${token}` } });
    expect(warmUp.status).toBe(200);
    await warmUp.arrayBuffer();
    // From here the kernel's peak is the current size: what the uploads took is forgotten.
    await writeFile(`/proc/${pid}/clear_refs`, "5");
    const before = await memoryOf(pid, "VmRSS");
    const response = await fetch(`${origin}/datasets/${datasetId}/versions/1/archive.zip`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    let received = 0;
    let tail = Buffer.alloc(0);
    for await (const chunk of response.body!) {
      received += chunk.length;
      tail = Buffer.concat([tail, chunk]).subarray(-1024);
    }
    const peak = await memoryOf(pid, "VmHWM");
    expect(received).toBeGreaterThan(FILES * FILE_SIZE);
    // The archive ended as a ZIP does: its end-of-central-directory record, listing every file.
    const end = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    expect(end).toBe(tail.length - 22);
    expect(tail.readUInt16LE(end + 10)).toBe(FILES);
    expect(peak - before, `peak ${Math.round(peak / MIB)} MiB, before ${Math.round(before / MIB)} MiB`).toBeLessThan(50 * 1000 * 1000);
  }, 300_000);
});
