import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import PgBoss from "pg-boss";
import { beforeAll, describe, expect, it } from "vitest";
import { bossDb, bossSchema } from "../src/jobs/queue.js";
import { PROFILE_QUEUE, SMALL_QUEUE } from "../src/previews/queue.js";
import { createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { commitFiles, sha256 } from "./support/files.js";
import { previewsOf, settledPreviews, slowCsvGz } from "./support/previews.js";
import { errorCode, startServer, type TestServer, type UntypedData } from "./support/server.js";

/**
 * Previews through HTTP: files uploaded over tus and committed, profiled by the workers of
 * another instance on the same database (the first has PREVIEW_WORKERS=0), read back with
 * `preview`. One more server with a one-second time limit for the slow file.
 */

let api: TestServer;
let workers: TestServer | undefined;
let slow: TestServer;
let owner: TestUser;
const events: string[] = [];

/** A small Parquet file, written by DuckDB itself. */
async function parquetFixture(): Promise<Buffer> {
  const directory = await mkdtemp(join(tmpdir(), "preview-test-"));
  const instance = await DuckDBInstance.create(":memory:", { autoinstall_known_extensions: "false", autoload_known_extensions: "false" });
  const connection = await instance.connect();
  try {
    const path = join(directory, "fixture.parquet");
    await connection.run(
      `copy (select i::integer as id, 'name ' || i as name, case when i % 2 = 0 then null else i * 1.5 end as score, date '2024-01-01' + i::integer as day
             from range(5) t(i)) to '${path}' (format parquet)`,
    );
    return await readFile(path);
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(directory, { recursive: true, force: true });
  }
}

/** An instance with workers on the same database and storage as `api`. */
const startWorkers = () => startServer({ PREVIEW_WORKERS: "2", STORAGE_URL: api.config.files.storageUrl }, undefined, api);

beforeAll(async () => {
  [api, slow] = await Promise.all([startServer({ PREVIEW_WORKERS: "0" }), startServer({ PREVIEW_TIMEOUT: "1", PREVIEW_MAX_EXPANDED_BYTES: "4GiB" })]);
  owner = await createUser(api);
  const listening = await api.database.listen("dataset_events", {
    notification: (payload) => events.push(payload),
    listening: () => {},
    lost: () => {},
  });
  return async () => {
    await listening.close();
    await workers?.close();
    await Promise.all([api.close(), slow.close()]);
  };
});

describe("previews of tabular files", () => {
  it("is PENDING until a worker makes it; a job taken by a worker that vanished is made by another instance once its lease is over", async () => {
    const dataset = await createDataset(api, owner);
    const csv = Buffer.from("id,city\n1,Paris\n2,Rome\n");
    await commitFiles(api, owner.token, dataset.id, { "interrupted.csv": csv });
    expect((await previewsOf(api, owner.token, dataset.id))["interrupted.csv"]).toMatchObject({ status: "PENDING", format: "csv", rowCount: null });

    // A worker takes the job and dies with it: pg-boss holds the job as active, its lease running.
    const schema = await bossSchema(api.database);
    const vanished = new PgBoss({ db: bossDb(api.database), schema, supervise: false, migrate: false, schedule: false });
    vanished.on("error", () => {});
    await vanished.start();
    // A three-line CSV: the small files' lane.
    const [taken] = await vanished.fetch<{ sha256: string }>(SMALL_QUEUE);
    expect(taken?.data.sha256).toBe(sha256(csv));
    await vanished.stop({ graceful: false, wait: true, close: false });
    // Its lease ran out long ago (as after a crash and a slow restart).
    await api.database.query(`update ${schema}.job set started_on = now() - interval '1 day' where id = $1`, [taken!.id]);

    // An instance with workers starts: it fails the expired job, which is retried and made.
    // Instances share the database and the storage.
    workers = await startWorkers();
    const previews = await settledPreviews(api, owner.token, dataset.id);
    expect(previews["interrupted.csv"]).toMatchObject({
      status: "READY",
      rowCount: 2,
      rows: [
        [1, "Paris"],
        [2, "Rome"],
      ],
    });
    const [job] = await api.database.query<{ retryCount: number }>(`select retry_count as "retryCount" from ${schema}.job where id = $1`, [
      taken!.id,
    ]);
    expect(job?.retryCount).toBe(1);
  }, 90_000);

  it("profiles CSV, TSV, Parquet, JSON Lines, a JSON array and a .csv.gz, and calls a PNG UNSUPPORTED", async () => {
    const dataset = await createDataset(api, owner);
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]);
    const files = {
      "data/people.csv": Buffer.from("id,name,score,joined\n1,Ann,3.5,2024-01-02\n2,Bob,,2024-02-03\n3,,4.25,2024-03-04\n"),
      "data/people.tsv": Buffer.from("id\tname\n1\tAnn\n2\tBob\n"),
      "data/scores.parquet": await parquetFixture(),
      "data/events.jsonl": Buffer.from('{"kind":"click","n":1}\n{"kind":"view","n":null}\n{"kind":"click","n":3,"extra":true}\n'),
      "data/array.json": Buffer.from('[{"a":1,"b":"x"},{"a":2,"b":null}]'),
      "data/packed.csv.gz": gzipSync(Buffer.from("x,y\n1,2\n3,4\n5,6\n")),
      "images/logo.png": png,
    };
    await commitFiles(api, owner.token, dataset.id, files);
    const previews = await settledPreviews(api, owner.token, dataset.id);

    expect(previews["data/people.csv"]).toMatchObject({
      status: "READY",
      format: "csv",
      compressed: false,
      rowCount: 3,
      columns: [
        { name: "id", type: "BIGINT", nullCount: 0 },
        { name: "name", type: "VARCHAR", nullCount: 1 },
        { name: "score", type: "DOUBLE", nullCount: 1 },
        { name: "joined", type: "DATE", nullCount: 0 },
      ],
      rows: [
        [1, "Ann", 3.5, "2024-01-02"],
        [2, "Bob", null, "2024-02-03"],
        [3, null, 4.25, "2024-03-04"],
      ],
      error: null,
    });
    expect(previews["data/people.tsv"]).toMatchObject({ status: "READY", format: "tsv", rowCount: 2, columns: [{ name: "id" }, { name: "name" }] });
    expect(previews["data/scores.parquet"]).toMatchObject({
      status: "READY",
      format: "parquet",
      rowCount: 5,
      columns: [
        { name: "id", type: "INTEGER", nullCount: 0 },
        { name: "name", type: "VARCHAR", nullCount: 0 },
        { name: "score", nullCount: 3 },
        { name: "day", type: "DATE", nullCount: 0 },
      ],
    });
    expect(previews["data/scores.parquet"].rows[1]).toEqual([1, "name 1", 1.5, "2024-01-02"]);
    expect(previews["data/events.jsonl"]).toMatchObject({
      status: "READY",
      format: "jsonl",
      rowCount: 3,
      columns: [
        { name: "kind", type: "VARCHAR", nullCount: 0 },
        { name: "n", type: "BIGINT", nullCount: 1 },
        { name: "extra", type: "BOOLEAN", nullCount: 2 },
      ],
    });
    expect(previews["data/array.json"]).toMatchObject({
      status: "READY",
      format: "json",
      rowCount: 2,
      rows: [
        [1, "x"],
        [2, null],
      ],
    });
    expect(previews["data/packed.csv.gz"]).toMatchObject({ status: "READY", format: "csv", compressed: true, rowCount: 3 });
    expect(previews["images/logo.png"]).toEqual({
      status: "UNSUPPORTED",
      format: null,
      compressed: null,
      rowCount: null,
      columns: null,
      rows: null,
      error: null,
      sha256: sha256(png),
    });

    // Each profile was announced once, in the transaction that stored it, with the pinned payload.
    // (The live events' own probes share the channel: they are not JSON. So do other test runs
    // on the same PostgreSQL database: NOTIFY is per database, not per schema, and a run beside
    // this one profiles the same bytes in a dataset of its own.)
    const announced = events
      .filter((payload) => payload.startsWith("{"))
      .map((payload) => JSON.parse(payload))
      .filter((event) => event.sha256 === sha256(files["data/people.csv"]) && event.datasetId === dataset.id);
    expect(announced).toEqual([
      { type: "PREVIEW_READY", datasetId: dataset.id, version: 1, userId: null, sha256: sha256(files["data/people.csv"]), at: expect.any(String) },
    ]);
    expect(new Date(announced[0].at).toISOString()).toBe(announced[0].at);

    const metrics = await (await fetch(`${workers!.origin}/metrics`)).text();
    expect(metrics).toMatch(/^preview_jobs_total\{outcome="ready"\} ([6-9]|\d\d+)$/m);
    expect(metrics).toMatch(/^preview_jobs_queued 0$/m);
  }, 90_000);

  it("reads a quoted newline, a byte-order mark and semicolons; a header alone is 0 rows; ragged rows and a PNG named .csv are FAILED in words", async () => {
    const dataset = await createDataset(api, owner);
    await commitFiles(api, owner.token, dataset.id, {
      "quoted.csv": Buffer.from('\uFEFFid;name;note\n1;Ann;"two\nlines"\n2;Bob;"a;b"\n'),
      "header-only.csv": Buffer.from("a,b,c\n"),
      "ragged.csv": Buffer.from("a,b,c,d\n1,2,3,4\n5,6,7,8,9\n"),
      "fake.csv": Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(300, 0)]),
      "broken.jsonl": Buffer.from('{"a":1}\n{"a" 2}\n{"a":3}\n'),
    });
    const previews = await settledPreviews(api, owner.token, dataset.id);
    expect(previews["quoted.csv"]).toMatchObject({
      status: "READY",
      rowCount: 2,
      columns: [{ name: "id" }, { name: "name" }, { name: "note" }],
      rows: [
        [1, "Ann", "two\nlines"],
        [2, "Bob", "a;b"],
      ],
    });
    expect(previews["header-only.csv"]).toMatchObject({
      status: "READY",
      rowCount: 0,
      rows: [],
      columns: [{ name: "a" }, { name: "b" }, { name: "c" }],
    });
    expect(previews["ragged.csv"]).toMatchObject({ status: "FAILED", rowCount: null, error: "line 3: 5 fields where the header has 4" });
    expect(previews["fake.csv"].status).toBe("FAILED");
    expect(previews["fake.csv"].error).toMatch(/^No table found: /);
    expect(previews["broken.jsonl"]).toMatchObject({ status: "FAILED", error: "line 2: malformed JSON" });
    // Never the engine's own text.
    for (const preview of Object.values(previews) as UntypedData[]) expect(preview.error ?? "").not.toMatch(/duckdb|error:|read_csv|LINE \d|\/tmp/);
  }, 90_000);

  it("a dataset page with every file's preview and columns fits the default cost limit (columns come with the preview's row)", async () => {
    const page = await api.graphql(
      `{ datasets(first: 20) { totalCount nodes { id name createdAt latestVersion { number files { path size preview { status rowCount columns { name type } } } } } } }`,
      {},
      { token: owner.token },
    );
    expect(page.errors).toBeUndefined();
    // 1 + 10 + 20 × (1 + 1 + 20 files × (1 + 1 preview + 1 columns)): no longer 20 columns per file.
    expect(page.extensions?.cost).toBe(1 + 10 + 20 * (2 + 20 * 3));
    expect(Number(page.extensions?.cost)).toBeLessThanOrEqual(5000);
  });

  it("cuts long values, counts rows(first:) in the query cost and refuses more than 100", async () => {
    const dataset = await createDataset(api, owner);
    const lines = ["n,text", ...Array.from({ length: 150 }, (_, index) => `${index},${"x".repeat(1500)}`)];
    await commitFiles(api, owner.token, dataset.id, { "long.csv": Buffer.from(`${lines.join("\n")}\n`) });
    const previews = await settledPreviews(api, owner.token, dataset.id, 100);
    expect(previews["long.csv"].rowCount).toBe(150);
    expect(previews["long.csv"].rows).toHaveLength(100);
    expect(previews["long.csv"].rows[0]).toEqual([0, `${"x".repeat(1000)}…`]);

    const query = `query($id: ID!, $rows: Int) { dataset(id: $id) { latestVersion { files { preview { rows(first: $rows) } } } } }`;
    const few = await api.graphql(query, { id: dataset.id, rows: 1 }, { token: owner.token });
    const many = await api.graphql(query, { id: dataset.id, rows: 100 }, { token: owner.token });
    expect(Number(many.extensions?.cost) - Number(few.extensions?.cost)).toBe(99 * 20); // 20: the files list's assumed length
    const tooMany = await api.graphql(query, { id: dataset.id, rows: 101 }, { token: owner.token });
    expect(errorCode(tooMany)).toBe("BAD_USER_INPUT");
  }, 90_000);

  it("profiles content once per dataset; the same bytes in another dataset, anyone's, wait for a job of their own", async () => {
    workers ??= await startWorkers();
    const bytes = Buffer.from(`k,v\nonce,${unique()}\n`);
    const first = await createDataset(api, owner);
    await commitFiles(api, owner.token, first.id, { "a.csv": bytes, "copy/b.csv": bytes });
    expect((await settledPreviews(api, owner.token, first.id))["a.csv"]).toMatchObject({ status: "READY", rowCount: 1 });
    // Within one dataset the same bytes are read once: whoever can commit here reads it all anyway.
    await commitFiles(api, owner.token, first.id, { "again.csv": bytes });
    expect((await previewsOf(api, owner.token, first.id))["again.csv"]).toMatchObject({ status: "READY", rowCount: 1 });

    // No worker anywhere now: whatever the next commits show comes from the commit alone.
    await workers!.close();
    workers = undefined;
    const other = await createUser(api);
    const theirs = await createDataset(api, other);
    await commitFiles(api, other.token, theirs.id, { "same.csv": bytes });
    // Another user's dataset, and the owner's own other one (an editor of that one must not
    // learn what the owner holds elsewhere): PENDING, as for bytes nobody ever committed.
    const ownersOther = await createDataset(api, owner);
    await commitFiles(api, owner.token, ownersOther.id, { "same.csv": bytes });
    for (const [token, id] of [
      [other.token, theirs.id],
      [owner.token, ownersOther.id],
    ] as const) {
      expect((await previewsOf(api, token, id))["same.csv"]).toMatchObject({
        status: "PENDING",
        rowCount: null,
        columns: null,
        rows: null,
        error: null,
      });
    }

    workers = await startWorkers();
    expect((await settledPreviews(api, other.token, theirs.id))["same.csv"]).toMatchObject({
      status: "READY",
      rowCount: 1,
      rows: [["once", expect.any(String)]],
    });
    expect((await settledPreviews(api, owner.token, ownersOther.id))["same.csv"]).toMatchObject({ status: "READY", rowCount: 1 });
    // Each dataset's profile was made by a job and an attempt of its own.
    const rows = await api.database.query<{ datasetId: string; attempts: number }>(
      `select dataset_id as "datasetId", attempts from file_previews where sha256 = $1 order by created_at`,
      [sha256(bytes)],
    );
    expect(rows).toEqual([
      { datasetId: first.id, attempts: 1 },
      { datasetId: theirs.id, attempts: 1 },
      { datasetId: ownersOther.id, attempts: 1 },
    ]);
    const schema = await bossSchema(api.database);
    const jobs = await api.database.query<{ datasetId: string }>(
      `select data->>'datasetId' as "datasetId" from ${schema}.job where data->>'sha256' = $1`,
      [sha256(bytes)],
    );
    expect(jobs.map((job) => job.datasetId).sort()).toEqual([first.id, theirs.id, ownersOther.id].sort());
  }, 120_000);

  it("splits a job queued before previews were per dataset (naming the content alone) into one per dataset", async () => {
    await workers?.close();
    workers = undefined;
    const bytes = Buffer.from(`k,v\nlegacy,${unique()}\n`);
    const other = await createUser(api);
    const [mine, theirs] = [await createDataset(api, owner), await createDataset(api, other)];
    await commitFiles(api, owner.token, mine.id, { "old.csv": bytes });
    await commitFiles(api, other.token, theirs.id, { "old.csv": bytes });
    // As migration 012 leaves a profile queued before it: a PENDING copy per dataset, no
    // requester, and the one job of before, which names the content alone.
    const schema = await bossSchema(api.database);
    await api.database.query(`delete from ${schema}.job where data->>'sha256' = $1`, [sha256(bytes)]);
    await api.database.query("update file_previews set requested_by = null where sha256 = $1", [sha256(bytes)]);
    const before = new PgBoss({ db: bossDb(api.database), schema, supervise: false, migrate: false, schedule: false });
    before.on("error", () => {});
    await before.start();
    const legacyId = await before.send(PROFILE_QUEUE, { sha256: sha256(bytes), format: "csv", compression: "none" });
    await before.stop({ graceful: false, wait: true, close: false });

    workers = await startWorkers();
    for (const [token, id] of [
      [owner.token, mine.id],
      [other.token, theirs.id],
    ] as const) {
      expect((await settledPreviews(api, token, id))["old.csv"]).toMatchObject({ status: "READY", rowCount: 1 });
    }
    const jobs = await api.database.query<{ id: string; datasetId: string | null; state: string; output: unknown }>(
      `select id, data->>'datasetId' as "datasetId", state, output from ${schema}.job where data->>'sha256' = $1`,
      [sha256(bytes)],
    );
    expect(jobs.find((job) => job.id === legacyId)).toMatchObject({ datasetId: null, state: "completed", output: { status: "SPLIT", datasets: 2 } });
    expect(
      jobs
        .filter((job) => job.id !== legacyId)
        .map((job) => job.datasetId)
        .sort(),
    ).toEqual([mine.id, theirs.id].sort());
  }, 120_000);

  it("shows another user's preview to nobody else: NOT_FOUND", async () => {
    const dataset = await createDataset(api, owner);
    await commitFiles(api, owner.token, dataset.id, { "private.csv": Buffer.from("secret\n42\n") });
    const stranger = await createUser(api);
    const response = await api.graphql(
      `query($id: ID!) { dataset(id: $id) { latestVersion { files { preview { status rows } } } } }`,
      { id: dataset.id },
      { token: stranger.token },
    );
    expect(errorCode(response)).toBe("NOT_FOUND");
    expect(response.data?.dataset ?? null).toBeNull();
  });

  it("fails a file that takes longer than PREVIEW_TIMEOUT, and the server answers meanwhile", async () => {
    const user = await createUser(slow);
    const dataset = await createDataset(slow, user);
    // 2.1 GB once inflated, under the expansion limit: what stops it is the time limit alone, even
    // where inflating runs at a GB a second (540 MB could hit the default 512 MiB limit first).
    await commitFiles(slow, user.token, dataset.id, { "huge.csv.gz": slowCsvGz("a,b", 128) });
    let answered = 0;
    const deadline = Date.now() + 60_000;
    let preview: UntypedData;
    do {
      const ping = await slow.graphql("{ __typename }");
      expect(ping.data).toEqual({ __typename: "Query" });
      answered += 1;
      preview = (await previewsOf(slow, user.token, dataset.id))["huge.csv.gz"];
      if (preview.status === "PENDING") await new Promise((resolve) => setTimeout(resolve, 100));
    } while (preview.status === "PENDING" && Date.now() < deadline);
    expect(answered).toBeGreaterThan(0);
    expect(preview).toMatchObject({ status: "FAILED", error: "Reading took longer than the 1 s a preview may take (PREVIEW_TIMEOUT)" });
  }, 90_000);
});
