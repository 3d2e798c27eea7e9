import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENGINE } from "./support/database.js";
import { createDataset, createUser, type TestUser } from "./support/factories.js";
import { upload } from "./support/files.js";
import { startServer, type TestServer } from "./support/server.js";

/**
 * No commit holds the event loop, whatever its paths. The hostile input of a red-team finding:
 * a version of 10,000 paths of 1 KiB in 508 segments, whose file/folder check hashed a prefix
 * per `/` (seconds of blocked event loop per commit, one-line commits included). The server
 * runs in this process, so this process's event-loop delay is the server's.
 *
 * Embedded PGlite runs each SQL statement on this thread (WebAssembly): writing or reading
 * megabytes of paths holds the loop there whatever the server does around it, so the bound is
 * checked on PostgreSQL (production), and only printed on PGlite.
 */

const COMMIT = `mutation($input: CommitInput!) { commitDatasetVersion(input: $input) { number fileCount } }`;
const LATEST = `query($id: ID!) { dataset(id: $id) { latestVersion { number fileCount } } }`;
/** Far above a slice of work or a garbage collection; the old check held the loop for seconds. */
const MAX_HELD_MS = 100;

/** A path of 1,024 bytes in 508 segments: `a/a/…/a/` then `{tag}{n}.csv`. */
const deepPath = (tag: string, n: number) => `${"a/".repeat(507)}${tag}${String(n).padStart(5, "0")}.csv`;

let server: TestServer;
let owner: TestUser;
beforeAll(async () => {
  server = await startServer();
  owner = await createUser(server);
});
afterAll(() => server.close());

const commit = (datasetId: string, changes: Array<{ path: string; uploadId?: string }>) =>
  server.graphql(COMMIT, { input: { datasetId, changes } }, { token: owner.token });

async function latest(datasetId: string) {
  const response = await server.graphql(LATEST, { id: datasetId }, { token: owner.token });
  return response.data.dataset.latestVersion;
}

/**
 * `count` finished uploads of the same few bytes to the dataset. One is a real tus upload; the
 * others are its row again, made in SQL: what `count` creation-with-upload requests would leave
 * (each upload becomes one file only), without thousands of requests.
 */
async function finishedUploads(datasetId: string, count: number): Promise<string[]> {
  const first = await upload(server, owner.token, datasetId, Buffer.from(`deep ${datasetId}`));
  const rows = await server.database.query<{ id: string }>(
    `insert into uploads (id, dataset_id, user_id, length, received, state, sha256, size, expires_at)
     select gen_random_uuid(), u.dataset_id, u.user_id, u.length, u.received, 'complete', u.sha256, u.size, u.expires_at
     from uploads u, generate_series(2, $2) where u.id = $1
     returning id`,
    [first, count],
  );
  return [first, ...rows.map((row) => row.id)];
}

/**
 * CPU time this thread has run, in ms: Linux's per-thread schedstat, which leaves out the
 * garbage collector's helper threads; elsewhere the process's CPU time, which counts them.
 */
function threadCpuMs(): number {
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
  } catch {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
}

/**
 * The longest stall of the event loop while `work` runs and /healthz is polled. A stall is a
 * gap between ticks of a 5 ms timer; `heldMs` is the most CPU time the event loop's thread ran
 * in one (at most the gap): what the server's own work held the loop for. `monitorEventLoopDelay`'s
 * max (printed) also counts time in which the machine ran no code of this process at all: on a
 * busy machine (other test runs on two cores) that alone reaches hundreds of milliseconds.
 */
async function stallsDuring(work: () => Promise<void>): Promise<{ heldMs: number }> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  let heldMs = 0;
  let lastTick = performance.now();
  let lastCpu = threadCpuMs();
  const ticks = setInterval(() => {
    const [now, cpu] = [performance.now(), threadCpuMs()];
    heldMs = Math.max(heldMs, Math.min(now - lastTick, cpu - lastCpu));
    [lastTick, lastCpu] = [now, cpu];
  }, 5);
  // The histogram's first tick starts it: a block before that would go unseen.
  await sleep(50);
  let polling = true;
  const statuses: number[] = [];
  const poll = (async () => {
    while (polling) {
      statuses.push((await fetch(`${server.origin}/healthz`)).status);
      await sleep(20);
    }
  })();
  try {
    await work();
  } finally {
    polling = false;
    await poll;
    // A block is recorded when the timers fire after it: let them.
    await sleep(50);
    delay.disable();
    clearInterval(ticks);
  }
  expect(statuses.length).toBeGreaterThan(0);
  expect(statuses.every((status) => status === 200)).toBe(true);
  const delayMs = delay.max / 1e6;
  console.info(
    `${ENGINE}: longest stall ${heldMs.toFixed(0)} ms of CPU (monitorEventLoopDelay max ${delayMs.toFixed(0)} ms) over ${statuses.length} /healthz polls`,
  );
  return { heldMs };
}

describe("the event loop under commits of very deep paths", () => {
  it("refuses one-line commits to a version made before the path-bytes limit (10,000 paths of 1 KiB), without a long block", async () => {
    const dataset = await createDataset(server, owner);
    const [uploadId] = await finishedUploads(dataset.id, 1);
    const [{ sha256 } = { sha256: "" }] = await server.database.query<{ sha256: string }>("select sha256 from uploads where id = $1", [uploadId]);
    // In SQL, as the old rules let a client make it.
    // (The manifest's order: the number moves on, the files are written, the version's row last.)
    await server.database.query("update datasets set latest_version = 1 where id = $1", [dataset.id]);
    await server.database.query(
      `insert into version_files (dataset_id, first_version, path, sha256, size, content_type)
       select $1, 1, repeat('a/', 507) || 'z' || lpad(n::text, 5, '0') || '.csv', $2, 4, 'text/csv' from generate_series(0, 9999) n`,
      [dataset.id, sha256],
    );
    await server.database.query("insert into dataset_versions (dataset_id, number, file_count, total_size) values ($1, 1, 10000, 40000)", [
      dataset.id,
    ]);

    const outcomes: unknown[] = [];
    const { heldMs } = await stallsDuring(async () => {
      for (let n = 0; n < 3; n += 1) outcomes.push((await commit(dataset.id, [{ path: deepPath("z", n) }])).errors?.[0]);
    });
    if (ENGINE === "postgres") expect(heldMs).toBeLessThan(MAX_HELD_MS);
    for (const error of outcomes) {
      expect(error).toMatchObject({ extensions: { code: "BAD_USER_INPUT", field: "input.changes" } });
      expect(error).toMatchObject({ message: expect.stringMatching(/at most 2097152 UTF-8 bytes in all/) });
    }
    expect(await latest(dataset.id)).toEqual({ number: 1, fileCount: 10_000 });
  }, 600_000);

  it("builds the worst version the limits allow (2,000 paths of 1 KiB) and commits one line at a time to it, without a long block", async () => {
    const dataset = await createDataset(server, owner);
    const errors: unknown[] = [];
    let over: unknown;
    const { heldMs } = await stallsDuring(async () => {
      // In commits of 500, as the body limit allows (and the 1,000 live uploads a user may hold).
      for (const tag of ["w", "x", "y", "z"]) {
        const uploads = await finishedUploads(dataset.id, 500);
        const built = await commit(
          dataset.id,
          uploads.map((uploadId, n) => ({ path: deepPath(tag, n), uploadId })),
        );
        errors.push(...(built.errors ?? []));
      }
      for (let n = 0; n < 3; n += 1) errors.push(...((await commit(dataset.id, [{ path: deepPath("x", n) }])).errors ?? []));
      const [one] = await finishedUploads(dataset.id, 1);
      errors.push(...((await commit(dataset.id, [{ path: `${"b/".repeat(500)}one.csv`, uploadId: one! }])).errors ?? []));
      // 60 more such paths would pass 2 MiB: refused.
      const more = await finishedUploads(dataset.id, 60);
      over = (
        await commit(
          dataset.id,
          more.map((uploadId, n) => ({ path: deepPath("v", n), uploadId })),
        )
      ).errors?.[0];
    });
    if (ENGINE === "postgres") expect(heldMs).toBeLessThan(MAX_HELD_MS);
    expect(errors).toEqual([]);
    expect(over).toMatchObject({ extensions: { code: "BAD_USER_INPUT", field: "input.changes" } });
    expect(await latest(dataset.id)).toEqual({ number: 8, fileCount: 1998 });
  }, 600_000);
});
